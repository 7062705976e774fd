# bash completion for tether(1)                               -*- shell-script -*-
#
# Installed as share/bash-completion/completions/tether, where the bash-completion package
# loads it the first time `tether` is completed. It uses none of that package's helpers, so
# it also works when sourced on its own (`source tether.bash` in ~/.bashrc).
#
# Completes: options (tests/completion_test.cc checks that every option of `tether --help`
# is here), values where they are a fixed set or a file, host names from the Host lines of
# ~/.ssh/config and the files it includes, the subcommands `list` and `stop`, and for
# `tether stop` the pids and :ports of the running tunnels, from `tether list --json`.

# Host names (no patterns) of ~/.ssh/config and the files its Include lines name.
_tether_config_hosts() {
  local -a files=("$HOME/.ssh/config") words
  local -A seen=()
  local file key rest word path i=0
  # Each file once, and at most 32, so that an Include loop cannot hang the shell.
  while (( i < ${#files[@]} && i < 32 )); do
    file=${files[i]}
    (( i++ ))
    [[ -z ${seen[$file]:-} && -f $file && -r $file ]] || continue
    seen[$file]=1
    while read -r key rest; do
      if [[ $key == *=* ]]; then   # "Host=name"
        rest="${key#*=} $rest"
        key=${key%%=*}
      fi
      read -ra words <<<"$rest"
      case ${key,,} in
        host)
          for word in "${words[@]}"; do
            word=${word//\"/}
            [[ -n $word && $word != *[*?!]* ]] && printf '%s\n' "$word"
          done
          ;;
        include)
          for word in "${words[@]}"; do
            word=${word//\"/}
            [[ $word == \~/* ]] && word=$HOME/${word#\~/}
            [[ $word == /* ]] || word=$HOME/.ssh/$word
            while IFS= read -r path; do files+=("$path"); done < <(compgen -G "$word")
          done
          ;;
      esac
    done <"$file"
  done
}

# "all", then the pid and each :port of every running tunnel, as `tether list --json` shows
# them (the tunnel's own pid is the first "pid" of its line).
_tether_stop_targets() {
  local tether=$1 line rest
  printf '%s\n' all
  [[ $tether == */* && -x $tether ]] || tether=tether
  command -v "$tether" >/dev/null 2>&1 || return 0
  while IFS= read -r line; do
    [[ $line =~ \"pid\":\ *([0-9]+) ]] && printf '%s\n' "${BASH_REMATCH[1]}"
    rest=$line
    # A remote forward's port is the server's: `tether stop :PORT` does not take it.
    while [[ $rest =~ \"port\":\ *([0-9]+),\ *\"kind\":\ *\"([a-z]+)\"(.*) ]]; do
      [[ ${BASH_REMATCH[1]} != 0 && ${BASH_REMATCH[2]} != remote ]] && printf ':%s\n' "${BASH_REMATCH[1]}"
      rest=${BASH_REMATCH[3]}
    done
  done < <("$tether" list --json 2>/dev/null)
}

_tether_reply() {
  mapfile -t COMPREPLY < <(compgen "$@")
}

_tether() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
  local options='-L -D -R -g -p -l -i -F -o -J -c -m -4 -6 -b -G -f -E -v -q -N -T -n --ttl --idle-timeout
    --keepalive --keepalive-count --tie-to --sessions --reconnect --log-format -h --help -V --version'
  local ssh_options='User= Port= IdentityFile= UserKnownHostsFile= GlobalKnownHostsFile=
    StrictHostKeyChecking= ConnectTimeout= ServerAliveInterval= ServerAliveCountMax=
    BatchMode= GatewayPorts= LocalForward= DynamicForward= RemoteForward= ProxyJump= HostName= Ciphers= MACs= KexAlgorithms=
    HostKeyAlgorithms= HashKnownHosts= ConnectionAttempts= AddressFamily= BindAddress=
    IdentitiesOnly= IdentityAgent= PubkeyAuthentication= PasswordAuthentication=
    KbdInteractiveAuthentication= NumberOfPasswordPrompts= PubkeyAcceptedAlgorithms='
  COMPREPLY=()
  # "--opt=value": bash splits at '=' (COMP_WORDBREAKS).
  if [[ $prev == = && COMP_CWORD -ge 2 ]]; then
    prev=${COMP_WORDS[COMP_CWORD-2]}
  elif [[ $cur == = ]]; then
    cur=''
  fi

  if (( COMP_CWORD >= 2 )); then
    case ${COMP_WORDS[1]} in
      list)
        _tether_reply -W '--json --help' -- "$cur"
        return 0
        ;;
      stop)
        (( COMP_CWORD == 2 )) && _tether_reply -W "$(_tether_stop_targets "${COMP_WORDS[0]}")" -- "$cur"
        return 0
        ;;
    esac
  fi
  local i
  for (( i = 1; i < COMP_CWORD; i++ )); do
    if [[ ${COMP_WORDS[i]} == -- ]]; then   # the command to run
      (( i + 1 == COMP_CWORD )) && _tether_reply -c -- "$cur" || _tether_reply -f -- "$cur"
      return 0
    fi
  done

  case $prev in
    -i | -F | -E)
      compopt -o filenames 2>/dev/null
      _tether_reply -f -- "$cur"
      return 0
      ;;
    --log-format)
      _tether_reply -W 'text json' -- "$cur"
      return 0
      ;;
    -J)   # the last host of a comma-separated list
      local done_part=""
      [[ $cur == *,* ]] && done_part="${cur%,*},"
      _tether_reply -P "$done_part" -W "$(_tether_config_hosts)" -- "${cur##*,}"
      return 0
      ;;
    -o)
      compopt -o nospace 2>/dev/null
      _tether_reply -W "$ssh_options" -- "$cur"
      return 0
      ;;
    -L | -D | -R | -p | -l | -c | -m | -b | --ttl | --idle-timeout | --keepalive | --keepalive-count | --tie-to | --sessions)
      return 0   # free-form values
      ;;
  esac

  if [[ $cur == -* ]]; then
    _tether_reply -W "$options" -- "$cur"
    return 0
  fi
  local hosts
  hosts=$(_tether_config_hosts)
  if [[ $cur == *@* ]]; then
    _tether_reply -P "${cur%@*}@" -W "$hosts" -- "${cur##*@}"
  else
    (( COMP_CWORD == 1 )) && hosts+=$'\nlist\nstop'
    _tether_reply -W "$hosts" -- "$cur"
  fi
  return 0
}

complete -F _tether tether
