"""Keep: what was collected and decided, in SQL (SQLite or PostgreSQL) plus Parquet for activity."""
