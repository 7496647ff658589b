#!/usr/bin/env bash
# The bash completion (core/completion/tandemctl.bash) against the real
# tandemctl binary: subcommands and options come from its --help, store names
# from the config's [stores.NAME] tables. Usage: completion_test.sh TANDEMCTL COMPLETION
set -u
tandemctl=$1
source "$2"
dir=$(mktemp -d /tmp/tandem-completion-XXXXXX)
trap 'rm -rf "$dir"' EXIT
printf '[node]\nname = "a"\n\n[stores.pg]\nplugin = "postgres"\n[stores.cache] # redis\nplugin = "redis"\n' >"$dir/t.toml"
failures=0

# complete WORDS... : COMPREPLY for the last word, sorted, space-joined.
complete_line() {
  COMP_WORDS=("$tandemctl" "$@")
  COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
  _tandemctl
  printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ' | sed 's/ $//'
}

expect() {
  local want=$1
  shift
  local got
  got=$(complete_line "$@")
  if [[ $got == "$want" ]]; then
    echo "ok   tandemctl $* -> $got"
  else
    echo "FAIL tandemctl $*: want '$want', got '$got'"
    failures=$((failures + 1))
  fi
}

expect "switchover" sw
expect "rebuild rejoin resume" re
expect "--ca-file --config" --c
expect "--all --help" diag --
expect "--dry-run --force --help --token-file --url" promote --
expect "cache pg" -c "$dir/t.toml" diag ""
expect "pg" --config "$dir/t.toml" action p
expect "" -c "$dir/t.toml" action pg ""
expect "describe" plugins d
expect "--interval" status --i
# Every subcommand of --help is offered for an empty word.
want=$("$tandemctl" --help | _tandemctl_section "Subcommands:" | sort | tr '\n' ' ' | sed 's/ $//')
[[ $(echo "$want" | wc -w) -ge 12 ]] || { echo "FAIL: --help lists only '$want'"; failures=$((failures + 1)); }
expect "$want" ""

if ((failures)); then
  echo "$failures completion check(s) failed"
  exit 1
fi
echo "all completion checks passed"
