"""Where an event is stored: the tables, engines, inserts, the one writer, PostgreSQL fan-out."""
