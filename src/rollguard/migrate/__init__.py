"""Migration proof: run migrations on a disposable PostgreSQL database and record what they really do."""
