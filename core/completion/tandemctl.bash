# bash completion for tandemctl. Installed as
# share/bash-completion/completions/tandemctl.
#
# Subcommands and options are read from `tandemctl --help` and
# `tandemctl SUBCOMMAND --help` of the binary being completed, so the
# completion never lists anything the binary does not accept (one source: the
# CLI11 definitions in core/src/cli/main.cpp). Store names for diag, rebuild
# and action come from the [stores.NAME] tables of the config (-c, else
# $TANDEM_CONFIG, else /etc/tandem/tandem.toml).
# Tested by core/tests/cli/completion_test.sh.

# Lines of one --help section ("Subcommands:", "Options:"): first word of each.
_tandemctl_section() {
  local section=$1
  awk -v s="$section" '
    $0 == s { on = 1; next }
    /^[A-Za-z].*:$/ { on = 0 }
    on && NF { print $1 }'
}

_tandemctl_stores() {
  local config=${TANDEM_CONFIG:-/etc/tandem/tandem.toml} i
  for ((i = 1; i < ${#COMP_WORDS[@]} - 1; i++)); do
    case ${COMP_WORDS[i]} in
      -c | --config) config=${COMP_WORDS[i + 1]} ;;
    esac
  done
  [[ -r $config ]] || return 0
  sed -n 's/^[[:space:]]*\[stores\.\([A-Za-z0-9_-]*\)\][[:space:]]*\(#.*\)\{0,1\}$/\1/p' "$config"
}

_tandemctl() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
  local prog=${COMP_WORDS[0]} sub="" i w
  COMPREPLY=()

  case $prev in
    -c | --config | --token-file | --ca-file)
      COMPREPLY=($(compgen -f -- "$cur"))
      return 0
      ;;
    --url | --timeout | --interval | --reason | --arg | --follow-timeout)
      return 0
      ;;
  esac

  local subs
  subs=$("$prog" --help 2>/dev/null | _tandemctl_section "Subcommands:")
  # The first word that is a subcommand (skipping global options' values).
  local positionals=0
  for ((i = 1; i < COMP_CWORD; i++)); do
    w=${COMP_WORDS[i]}
    case ${COMP_WORDS[i - 1]} in -c | --config | --ca-file) continue ;; esac
    if [[ -z $sub ]]; then
      [[ " $(echo $subs) " == *" $w "* ]] && sub=$w
    elif [[ $w != -* ]]; then
      case ${COMP_WORDS[i - 1]} in --url | --timeout | --interval | --reason | --arg | --follow-timeout | --token-file) ;; *) ((positionals++)) ;; esac
    fi
  done

  local help_text
  if [[ -z $sub ]]; then
    if [[ $cur == -* ]]; then
      help_text=$("$prog" --help 2>/dev/null)
    else
      COMPREPLY=($(compgen -W "$subs" -- "$cur"))
      return 0
    fi
  else
    if [[ $cur != -* ]]; then
      case $sub in
        diag | rebuild | action)
          ((positionals == 0)) && COMPREPLY=($(compgen -W "$(_tandemctl_stores)" -- "$cur"))
          return 0
          ;;
        plugins)
          ((positionals == 0)) && COMPREPLY=($(compgen -W "describe" -- "$cur"))
          return 0
          ;;
        check-config)
          COMPREPLY=($(compgen -f -- "$cur"))
          return 0
          ;;
      esac
      return 0
    fi
    help_text=$("$prog" "$sub" --help 2>/dev/null)
  fi
  # "-c,--config TEXT" -> -c --config
  local opts
  opts=$(_tandemctl_section "Options:" <<<"$help_text" | tr ',' ' ')
  COMPREPLY=($(compgen -W "$opts" -- "$cur"))
}

complete -F _tandemctl tandemctl
