"""Run folders: what one holds and who holds it (folders), the table of runs (table), their curves (plots)."""
