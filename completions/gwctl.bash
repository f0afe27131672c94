# bash completion for gwctl(1).
#
# The nouns, verbs and options come from `gwctl --list-commands`, which prints gwctl's command table
# (noun, verb, usage), so this file follows the table without listing commands itself. Names of
# users, tokens, channels, groups, models, tags, runtime options and recent request ids come from
# the hidden `gwctl --list-names KIND` (quiet, and nothing at all when RELAY_DB or --db reaches no
# database).

_gwctl_names()  # KIND: user, token, channel, group, model, tag, option or request (recent ids)
{
    "${_gwctl_cmd[@]}" --list-names "$1" 2>/dev/null
}

_gwctl_reply()  # WORDS: the words that start with $cur, each once
{
    mapfile -t COMPREPLY < <(compgen -W "$1" -- "$cur" | sort -u)
}

_gwctl_files()
{
    mapfile -t COMPREPLY < <(compgen -f -- "$cur")
}

_gwctl()
{
    local cur prev
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD-1]}

    local gwctl=${COMP_WORDS[0]}
    local table
    table=$("$gwctl" --list-commands 2>/dev/null) || return 0

    # gwctl and the global options seen so far (so --db reaches the right database for names)
    local -a _gwctl_cmd=("$gwctl")
    local i w noun="" verb="" nounpos=0 verbpos=0 group=""
    for ((i = 1; i < COMP_CWORD; i++)); do
        w=${COMP_WORDS[i]}
        case $w in
            --db|--socket)
                _gwctl_cmd+=("$w" "${COMP_WORDS[i+1]}"); ((i++)) ;;
            --db=*|--socket=*)
                _gwctl_cmd+=("$w") ;;
            -*) ;;
            *)
                if [[ -z $noun ]]; then noun=$w; nounpos=$i
                elif [[ -z $verb ]]; then verb=$w; verbpos=$i
                    # a verb of two words ("channel key add"): the table names it whole
                    if awk -F'\t' -v n="$noun" -v v="$w" '$1 == n && index($2, v " ") == 1 { f = 1 } END { exit !f }' <<<"$table"; then
                        group=$w
                        if ((i + 1 < COMP_CWORD)); then verb="$w ${COMP_WORDS[i+1]}"; verbpos=$((i + 1)); fi
                    fi
                    break
                fi ;;
        esac
    done

    case $prev in
        --db|--socket)
            _gwctl_files; return 0 ;;
    esac

    if [[ -z $noun ]]; then
        if [[ $cur == -* ]]; then
            _gwctl_reply "--db --socket --json --wide --no-headers --tsv --no-pager --help --version"
        else
            _gwctl_reply "$(cut -f1 <<<"$table" | sort -u) help"
        fi
        return 0
    fi
    if [[ $noun == help ]]; then
        _gwctl_reply "$(cut -f1 <<<"$table" | sort -u)"
        return 0
    fi
    # a one-word command ("gwctl status") has an empty verb in the table
    local oneword=0
    if awk -F'\t' -v n="$noun" '$1 == n && $2 == "" { f = 1 } END { exit !f }' <<<"$table"; then
        oneword=1
        if [[ -n $verb ]]; then verb=""; fi
    fi
    if [[ -z $verb && $oneword == 0 ]]; then
        ((COMP_CWORD == nounpos + 1)) &&
            _gwctl_reply "$(awk -F'\t' -v n="$noun" '$1 == n { split($2, w, " "); print w[1] }' <<<"$table" | sort -u)"
        return 0
    fi
    if [[ -n $group && $verb == "$group" ]]; then     # "channel key <TAB>": the second words
        ((COMP_CWORD == verbpos + 1)) &&
            _gwctl_reply "$(awk -F'\t' -v n="$noun" -v v="$group" '$1 == n && index($2, v " ") == 1 { print substr($2, length(v) + 2) }' <<<"$table")"
        return 0
    fi

    local usage    # "=USAGE" for a known command (USAGE may be empty), "" for an unknown one
    usage=$(awk -F'\t' -v n="$noun" -v v="$verb" '$1 == n && $2 == v { print "=" $3 }' <<<"$table")
    [[ -n $usage ]] || return 0
    usage=${usage#=}

    # Options of this command, and the value each takes: "--quota Q" takes Q, "--unlimited" none.
    local -A value=()
    local opts="--db --socket --json --wide --no-headers --tsv --no-pager --help" words prevopt="" wd
    read -r -a words <<<"$usage"
    for wd in "${words[@]}"; do
        wd=${wd//[\[\]\(\)]/}
        if [[ $wd == --* ]]; then
            opts+=" $wd"; prevopt=$wd; value[$wd]=""
        elif [[ -n $prevopt && $wd != "|" ]]; then
            value[$prevopt]=$wd; prevopt=""
        else
            prevopt=""
        fi
    done

    # apply -f FILE|-: a file, or - for stdin
    if [[ $prev == -f ]]; then
        _gwctl_files; COMPREPLY+=(-); return 0
    fi
    if [[ $prev == --* && -n ${value[$prev]+set} && -n ${value[$prev]} ]]; then
        local spec=${value[$prev]}
        case $prev in
            --key-file) _gwctl_files; COMPREPLY+=(-) ;;
            --csv|--file) _gwctl_files ;;
            --from)     mapfile -t COMPREPLY < <(compgen -P sqlite: -f -- "${cur#sqlite:}") ;;
            --kinds)    _gwctl_reply "channels groups prices users tokens options fallbacks" ;;
            --key-refs) _gwctl_reply "none env file:" ;;
            --flavor)   _gwctl_reply "auto oneapi newapi" ;;
            --by)       _gwctl_reply "channel day group hour model status token user" ;;
            --user)     _gwctl_reply "$(_gwctl_names user)" ;;
            --token)    _gwctl_reply "$(_gwctl_names token)" ;;
            --channel)  _gwctl_reply "$(_gwctl_names channel)" ;;
            --group)    _gwctl_reply "$(_gwctl_names group)" ;;
            --model)    _gwctl_reply "$(_gwctl_names model)" ;;
            --tag)      _gwctl_reply "$(_gwctl_names tag)" ;;
            --type)
                if [[ $noun == log ]]; then
                    _gwctl_reply "consume topup manage system error refund"
                else
                    _gwctl_reply "openai azure anthropic gemini cohere jina bedrock vertex responses deepseek moonshot zhipu qwen doubao minimax siliconflow openrouter xai mistral groq together cloudflare ollama vllm custom compatible"
                fi ;;
            *)  # the lower-case words of the value: "DATE|never" offers never
                local lw="" x
                for x in ${spec//|/ }; do [[ $x == [a-z]* ]] && lw+=" $x"; done
                [[ -n $lw ]] && _gwctl_reply "$lw" ;;
        esac
        return 0
    fi

    if [[ $cur == -* ]]; then
        _gwctl_reply "$opts"
    elif [[ $prev == "${verb##* }" && $COMP_CWORD == $((verbpos + 1)) || ($oneword == 1 && $prev == "$noun") ]]; then
        # the first argument after the verb
        case "${usage#(}" in
            NAME\|ID*|NAME\ *|NAME)
                case $noun in
                    user|channel|token|group) _gwctl_reply "$(_gwctl_names "$noun")" ;;
                esac ;;
            MODEL*)  _gwctl_reply "$(_gwctl_names model)" ;;
            REQUEST_ID*) _gwctl_reply "$(_gwctl_names request)" ;;
            KEY*)    _gwctl_reply "$(_gwctl_names option)" ;;
            FILE*)   _gwctl_files ;;
        esac
    fi
    return 0
}

complete -F _gwctl gwctl
