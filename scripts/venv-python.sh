#!/bin/sh
# The interpreter `make setup` builds .venv on (the Makefile's PYTHON; set PYTHON to choose).
#
# python3 from PATH, unless the system's own /usr/bin/python3 is the same X.Y version and can
# build a venv: then that one. Distributions build their python3 with profile-guided and
# link-time optimization; a version manager's default build (pyenv's, first on PATH on many
# machines) has neither. On the 2-core CI machine, Debian's 3.11 ran the same tests with 13 %
# less CPU than pyenv's 3.11 (test_sdk_basic + test_api_sessions, side by side: 22.4-24.6 vs
# 27.0-27.7 CPU-s), and the whole suite in 291 s instead of 304 s. Same X.Y only: a workflow's
# setup-python 3.11 is not traded for the runner's system 3.12.
version() {
  "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null
}
system=/usr/bin/python3
system_version=$([ -x "$system" ] && version "$system")
if [ -n "$system_version" ] && [ "$system_version" = "$(version python3)" ] \
  && "$system" -c 'import ensurepip, venv' >/dev/null 2>&1; then
  echo "$system"
else
  echo python3
fi
