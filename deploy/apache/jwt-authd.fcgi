#!/bin/sh
# jwt-authd for Apache + mod_fcgid on shared hosting (deploy/apache/README.md), next to the .htaccess of
# deploy/apache/htaccess in the document root.
#
# mod_fcgid runs this script with its listening socket as file descriptor 0 and an almost empty
# environment; `exec` keeps fd 0, and jwt-authd, started without --listen, serves that socket as one
# process. This file is in the document root, so it holds no secrets: they live in APP, a folder OUTSIDE
# the document root (mode 0700), in files of mode 0600 named by jwt-authd.toml, which must not set
# `listen`. Keep this script mode 0755 and not writable by others (suEXEC refuses it otherwise).
APP=/home/alice/jwt-authd

exec "$APP/bin/jwt-authd" serve --config "$APP/jwt-authd.toml"
