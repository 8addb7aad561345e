CREATE TABLE IF NOT EXISTS load_audit (
    load_id          VARCHAR,
    loaded_at        TIMESTAMP,
    source_file      VARCHAR,
    file_hash        VARCHAR,
    source_kind      VARCHAR,   -- 'dese' | 'student'
    report           VARCHAR,   -- DESE report id or student table name
    school_year      INTEGER,
    rows_in          BIGINT,
    rows_loaded      BIGINT,
    rows_quarantined BIGINT,
    status           VARCHAR,   -- loaded | replaced | unchanged | duplicate
    message          VARCHAR,
    seconds          DOUBLE
);
CREATE TABLE IF NOT EXISTS quarantine (
    load_id      VARCHAR,
    source_file  VARCHAR,
    source_row   BIGINT,      -- 1-based line in the file (header is line 1)
    table_name   VARCHAR,
    column_name  VARCHAR,
    value_text   VARCHAR,
    check_name   VARCHAR,
    message      VARCHAR
);
CREATE TABLE IF NOT EXISTS load_mappings (  -- spellings mapped to the data contract at ingest (normalize.py)
    load_id      VARCHAR,
    source_file  VARCHAR,
    column_name  VARCHAR,
    value_from   VARCHAR,     -- as written in the file
    value_to     VARCHAR,     -- the contract's value
    rows         BIGINT
);
