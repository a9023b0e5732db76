/// MariaDB: MariaDB Connector/C (libmariadb) for Swift, the only importer of `CMariaDB`.
///
/// A ``Connection`` per thread (opened lazily, reopened after a lost connection), prepared statements cached per
/// connection, typed ``Row``s and ``DatabaseValue``s, transactions, and ``MariaDBError`` with the server's errno.
/// Above this target only AuthCore's `Storage/` and `Config/` use it.
public enum MariaDBModule {}
