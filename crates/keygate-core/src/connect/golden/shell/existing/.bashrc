# ~/.bashrc: executed by bash(1) for non-login shells.
[ -z "$PS1" ] && return
export PATH="$HOME/bin:$PATH"
alias ll='ls -la'
