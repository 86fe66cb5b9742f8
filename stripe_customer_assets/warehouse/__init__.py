"""The SQL warehouse: one SQLAlchemy engine, a writer lock for DuckDB files, bulk upserts."""

from stripe_customer_assets.warehouse.bulk import staged, staged_arrow, upsert_frame, write_frame
from stripe_customer_assets.warehouse.engine import Warehouse, WarehouseError, quote_table

__all__ = ["Warehouse", "WarehouseError", "quote_table", "staged", "staged_arrow", "upsert_frame", "write_frame"]
