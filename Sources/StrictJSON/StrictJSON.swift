/// StrictJSON: a small, strict JSON parser and writer: no duplicate member names, exact numbers, bounded depth, UTF-8
/// only. Used for tokens (where a lenient parser is an attack surface) and for the API's bodies.
public enum StrictJSONModule {}
