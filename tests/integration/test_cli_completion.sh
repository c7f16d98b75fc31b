#!/usr/bin/env bash
# `rollbackctl completion bash|zsh|fish`: the bash script really completes (sourced in bash,
# COMP_WORDS/COMP_CWORD set, _rollbackctl called, COMPREPLY read) commands, global and command
# options, -o and --severity values and the run ids of the runbook given with -f; every command,
# option and value it offers is one the binary accepts (the script is generated from the command
# table, this checks the table against the parsers); fish completes the same through
# `complete -C`; the zsh script parses, loads under compinit and completes the same (its
# completion builtins stubbed); `cmake --install` puts the
# scripts where bash-completion, zsh and fish look, equal to the binary's output.
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"

T=$(rb_tmpdir)
RB=$T/runbook.yaml
cat >"$RB" <<YAML
version: 1
name: completion-test
cutover: 2026-11-01T00:00:00Z
state_dir: $T/state
targets:
  legacy: { driver: postgres, conninfo: "host=127.0.0.1 port=1 dbname=none" }
restore:
  - name: Step one
    run: [sh, -c, "true"]
YAML
"$RB_BIN" completion bash >"$T/rollbackctl.bash"
"$RB_BIN" completion zsh >"$T/_rollbackctl"
"$RB_BIN" completion fish >"$T/rollbackctl.fish"
assert_exit 2 "$RB_BIN" completion tcsh
assert_contains "$RB_ERR" "no completion for shell 'tcsh' (bash, zsh or fish)"
assert_exit 2 "$RB_BIN" completion

# complete WORD...: the words of the command line, the last one being completed; prints COMPREPLY
complete_bash() {
  bash --norc --noprofile -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
    _rollbackctl; printf "%s\n" "${COMPREPLY[@]}"' _ "$T/rollbackctl.bash" "$RB_BIN" "$@"
}
words() { tr '\n' ' ' | sed 's/ $//'; }

assert_eq "execute" "$(complete_bash ex | words)" "a command"
assert_eq "resume runs report" "$(complete_bash r | words)" "commands by prefix"
assert_eq "--reason" "$(complete_bash -f "$RB" execute --rea | words)" "a command's option"
assert_eq "--runbook" "$(complete_bash execute --run | words)" "a global option after the command"
assert_eq "text json" "$(complete_bash -o '' | words)" "-o values"
assert_eq "json" "$(complete_bash plan --output j | words)" "--output values"
assert_eq "critical high medium low" "$(complete_bash execute --severity '' | words)" "--severity values"
assert_eq "md json html" "$(complete_bash report --format '' | words)" "report --format values"
assert_eq "bash zsh fish" "$(complete_bash completion '' | words)" "completion's shells"
assert_eq "" "$(complete_bash execute --reason '' | words)" "free text: nothing offered"
assert_contains "$(complete_bash -f "$T/run" | words)" "$T/runbook.yaml" "-f completes file names"

# run ids: those of the runbook named with -f, newest first
assert_eq "" "$(complete_bash -f "$RB" status '' | words)" "no runs yet: no ids"
"$RB_BIN" -f "$RB" execute --reason one --yes >/dev/null 2>&1 || rb_fail "run one failed"
"$RB_BIN" -f "$RB" execute --reason two --yes >/dev/null 2>&1 || rb_fail "run two failed"
ids=$(ls "$T/state/runs" | sort -r | words)
assert_eq "$ids" "$(complete_bash -f "$RB" status '' | words)" "status: the run ids"
assert_eq "$ids" "$(complete_bash --runbook "$RB" -o json report '' | words)" "report, --runbook: the run ids"
assert_eq "$ids" "$(complete_bash "-f$RB" approve '' | words)" "-fFILE: the run ids"
assert_eq "$ids" "$(ROLLBACKCTL_RUNBOOK=$RB complete_bash resume '' | words)" "\$ROLLBACKCTL_RUNBOOK: the run ids"
first=$(ls "$T/state/runs" | sort | head -1)
assert_eq "$first" "$(complete_bash -f "$RB" deny "${first:0:21}" | words)" "a run id by prefix"
assert_eq "" "$(complete_bash -f - status '' </dev/null | words)" "-f -: stdin is the runbook, no ids"
assert_eq "" "$(complete_bash -f "$T/missing.yaml" status '' | words)" "no runbook: no ids, no noise"

# everything offered is accepted: each command with each of its options (and a value the
# completion offers for it) gets past option parsing to the missing runbook (exit 5), or for the
# commands that need none, runs; never "unknown option"
cmds=$(complete_bash '' | words)
assert_eq "$("$RB_BIN" --help | sed -n '/^Commands:/,/^$/p' | awk 'NF && !/^Commands:/ {print $1}' | words)" \
  "$cmds" "the commands completed are the commands of --help"
globals=" $(complete_bash - | words) "
args=()
for o in $globals; do # each global option with a value it completes, before a command
  case $o in -h|--help|--version|-f|--runbook) continue ;; esac
  v=$(complete_bash "$o" '' | awk 'NR == 1')
  [[ " $cmds " == *" $v "* ]] && v=""  # commands offered next: the option takes no value
  if [[ -z $v ]] && grep -q -- "$o DURATION" <<<"$("$RB_BIN" --help)"; then v=5m # free text
  fi
  args+=("$o" ${v:+"$v"})
done
assert_exit 5 "$RB_BIN" -f "$T/missing.yaml" "${args[@]}" validate
assert_not_contains "$RB_ERR" "unknown" "global options: ${args[*]}"
for c in $cmds; do
  [[ $c == completion ]] && continue
  opts=$(complete_bash "$c" - | words)
  args=()
  for o in $opts; do
    [[ $globals == *" $o "* ]] && continue
    args+=("$o")
    v=$(complete_bash "$c" "$o" '' | awk 'NR == 1')
    if [[ -n $v && ! -e $v ]]; then args+=("$v")                              # a choice
    elif [[ -n $v ]]; then args+=("$T/f")                                       # a file name
    elif [[ $o == --plan-sha256 ]]; then args+=("$(printf '%064d' 0)")        # a well-formed hash
    elif grep -q -- "$o [A-Z]" <<<"$("$RB_BIN" "$c" --help)"; then args+=(x) # free text
    fi
  done
  # deny and approve take the RUN_ID first
  case $c in approve|deny) args=(x "${args[@]}") ;; esac
  rc=0; "$RB_BIN" -f "$T/missing.yaml" "$c" "${args[@]}" >"$T/out" 2>"$T/err" </dev/null || rc=$?
  if grep -qiE "unknown option|unexpected argument|belongs to|needs a value|unknown (severity|format|output)" "$T/err"; then
    rb_fail "$c ${args[*]}: $(cat "$T/err")"
  fi
  assert_eq 5 "$rc" "$c ${args[*]}: options accepted, then the missing runbook"
done
# the help of each command lists the options completed for it, and nothing more
for c in $cmds; do
  want=$("$RB_BIN" "$c" --help | grep -oE '^ {1,6}(-[a-z], )?--?[a-z][a-z0-9-]*' | sed 's/,//; s/^ *//' | words)
  got=$(complete_bash "$c" - | words)
  assert_eq "$(tr ' ' '\n' <<<"$want" | sort | words)" "$(tr ' ' '\n' <<<"$got" | sort | words)" "$c: options of its --help"
done

# zsh: parses, and loads under compinit (compdef); fish: parses and really completes
command -v zsh >/dev/null || rb_fail "zsh is missing (scripts/install-deps installs it)"
command -v fish >/dev/null || rb_fail "fish is missing (scripts/install-deps installs it)"
zsh -n "$T/_rollbackctl" && rb_ok "zsh -n" || rb_fail "zsh -n: $(zsh -n "$T/_rollbackctl" 2>&1)"
out=$(HOME=$T zsh -f -c "autoload -Uz compinit && compinit -u -d $T/zcompdump && source $T/_rollbackctl && print -r -- \${_comps[rollbackctl]}" 2>&1)
assert_eq "_rollbackctl" "$out" "zsh: compdef registers _rollbackctl"
# zsh really completes: _rollbackctl called with words/CURRENT set, zsh's completion builtins
# replaced by stubs that print what they were offered (unfiltered: zsh filters by the prefix)
complete_zsh() {
  HOME=$T zsh -f -c 'compdef() { :; }; compadd() { [[ $1 == -- ]] && shift; print -rl -- "$@"; }
    _describe() { local n=${@[-1]}; print -rl -- ${${(P)n}%%:*}; }; _files() { print -r -- "<files>"; }
    source "$1"; shift; words=("$@"); CURRENT=$#; _rollbackctl' _ "$T/_rollbackctl" "$RB_BIN" "$@"
}
assert_eq "$(complete_bash '' | sort | words)" "$(complete_zsh '' | sort | words)" "zsh: the commands bash offers"
assert_eq "text json" "$(complete_zsh -o '' | words)" "zsh: -o values"
assert_eq "critical high medium low" "$(complete_zsh execute --severity '' | words)" "zsh: --severity values"
assert_eq "bash zsh fish" "$(complete_zsh completion '' | words)" "zsh: completion's shells"
assert_eq "<files>" "$(complete_zsh -f '' | words)" "zsh: -f completes file names"
assert_eq "" "$(complete_zsh execute --reason '' | words)" "zsh: free text: nothing offered"
assert_contains " $(complete_zsh execute --rea | words) " " --reason " "zsh: a command's options"
assert_contains " $(complete_zsh execute --rea | words) " " --lock-timeout " "zsh: with the global ones"
assert_eq "$ids" "$(complete_zsh -f "$RB" status '' | words)" "zsh: status: the run ids"
assert_eq "$ids" "$(complete_zsh "-f$RB" resume '' | words)" "zsh: -fFILE: the run ids"
fish -n "$T/rollbackctl.fish" && rb_ok "fish -n" || rb_fail "fish -n: $(fish -n "$T/rollbackctl.fish" 2>&1)"
complete_fish() {
  HOME=$T XDG_CONFIG_HOME=$T PATH="$(dirname "$RB_BIN"):$PATH" fish --no-config -c "source $T/rollbackctl.fish; complete -C '$1'" | cut -f1
}
assert_eq "execute" "$(complete_fish 'rollbackctl exe' | words)" "fish: a command"
assert_eq "--reason" "$(complete_fish 'rollbackctl execute --rea' | words)" "fish: an option"
assert_eq "json text" "$(complete_fish 'rollbackctl -o ' | sort | words)" "fish: -o values"
assert_eq "$(tr ' ' '\n' <<<"$ids" | sort | words)" "$(complete_fish "rollbackctl -f $RB status " | sort | words)" "fish: run ids"

# installed where the shells look, equal to what the binary prints
cmake --install "$RB_BUILD_DIR" --prefix "$T/inst" >/dev/null
cmp "$T/inst/share/bash-completion/completions/rollbackctl" "$T/rollbackctl.bash" && rb_ok "bash script installed" \
  || rb_fail "the installed bash completion differs from 'rollbackctl completion bash'"
cmp "$T/inst/share/zsh/vendor-completions/_rollbackctl" "$T/_rollbackctl" && rb_ok "zsh script installed" \
  || rb_fail "the installed zsh completion differs from 'rollbackctl completion zsh'"
cmp "$T/inst/share/fish/vendor_completions.d/rollbackctl.fish" "$T/rollbackctl.fish" && rb_ok "fish script installed" \
  || rb_fail "the installed fish completion differs from 'rollbackctl completion fish'"
echo "ok - completion: bash, zsh and fish complete commands, options, values and run ids"
