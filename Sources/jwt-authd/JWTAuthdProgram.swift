/// jwt-authd: the command line (`serve`, `migrate`, `config`, `keys`, `user`, `sessions`, `api-keys`, `cleanup`).
///
/// ``ServiceGraph`` is the composition root: it builds configuration → keys → settings → hasher once for `serve`,
/// the admin commands and reload validation, and the services and responder of each worker thread.
enum JWTAuthdProgram {}
