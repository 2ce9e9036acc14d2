export EDITOR=vim

# >>> keygate >>> (written by `keygate connect shell`; `keygate connect shell --undo` removes it)
export OPENAI_BASE_URL=http://127.0.0.1:6000/v1
export OPENAI_API_KEY=kg-an-old-token
# <<< keygate <<<
alias gs='git status'
