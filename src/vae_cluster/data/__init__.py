"""Dataset adapters: each turns a folder on disk into an items table (see base.ITEM_COLUMNS)."""
