db_host = "127.0.0.1"
db_port = 5432
