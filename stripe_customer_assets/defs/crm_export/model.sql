-- CRM accounts to keep in Stripe, one row per account, keyed by the CRM id
-- (kept in Stripe as metadata.crm_id). The rows are inline so the example runs on any
-- warehouse; a real sync selects from the CRM's table and lists that asset under `deps`.
SELECT crm_id, email, full_name, phone, country, plan, locales
FROM (
    VALUES
        (1001, 'ada@analytical.example', 'Ada Lovelace', '+44 20 7946 0101', 'GB', 'enterprise', 'en-GB'),
        (1002, 'grace@cobol.example', 'Grace Hopper', '+1 212 555 0102', 'US', 'pro', 'en'),
        (1003, 'alan@bletchley.example', 'Alan Turing', NULL, 'GB', 'pro', NULL),
        (1004, 'edsger@dijkstra.example', 'Edsger Dijkstra', '+31 20 555 0104', 'NL', 'starter', 'nl,en'),
        (1005, 'margaret@apollo.example', 'Margaret Hamilton', '+1 617 555 0105', 'US', 'enterprise', 'en'),
        (1006, 'sophie@wilson.example', 'Sophie Wilson', NULL, 'GB', 'starter', 'en-GB')
) AS accounts (crm_id, email, full_name, phone, country, plan, locales)
