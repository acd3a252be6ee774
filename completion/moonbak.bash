# bash completion for moonbak: commands, each command's options, job names
# (from --jobs on the line, else $MOONBAK_JOBS, else ./jobs), a job's backup
# ids and storage names, source types.  The candidates come from the program
# itself (moonbak __complete, made from the tables --help prints), so they
# follow the commands of the moonbak being completed.  Listing backups reads
# the job's storages: at most MOONBAK_COMPLETION_TIMEOUT seconds (default 3).
#
# Install: copy to /usr/share/bash-completion/completions/moonbak, or
# source it from ~/.bashrc.

_moonbak() {
    local cur=${COMP_WORDS[COMP_CWORD]}
    [[ $cur == = ]] && cur=
    local prog=${COMP_WORDS[0]}
    command -v -- "$prog" >/dev/null 2>&1 || prog=moonbak
    local -a ask=("$prog" __complete "$COMP_CWORD" "${COMP_WORDS[@]}")
    command -v timeout >/dev/null 2>&1 && ask=(timeout "${MOONBAK_COMPLETION_TIMEOUT:-3}" "${ask[@]}")
    COMPREPLY=()
    local line file
    while IFS= read -r line; do
        case $line in
            @files | @dirs)
                [[ $line == @dirs ]] && line=-d || line=-f
                while IFS= read -r file; do COMPREPLY+=("$file"); done < <(compgen "$line" -- "$cur")
                compopt -o filenames 2>/dev/null ;;
            "$cur"*) COMPREPLY+=("$line") ;;
        esac
    done < <("${ask[@]}" 2>/dev/null)
}

complete -F _moonbak moonbak
