# ~/.bashrc: executed by bash(1) for non-login shells.
[ -z "$PS1" ] && return
export PATH="$HOME/bin:$PATH"
alias ll='ls -la'

# >>> keygate >>> (written by `keygate connect shell`; `keygate connect shell --undo` removes it)
export OPENAI_BASE_URL=http://127.0.0.1:5397/v1
export OPENAI_API_KEY=kg-golden00000000000000000000000000
export ANTHROPIC_BASE_URL=http://127.0.0.1:5397
export ANTHROPIC_AUTH_TOKEN=kg-golden00000000000000000000000000
# <<< keygate <<<
