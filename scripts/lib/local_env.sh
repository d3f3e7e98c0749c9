# Exports the defaults of local.env for this shell; variables already set (e.g. other ports) take
# precedence. Source it from the repository root.
while IFS='=' read -r name value; do
  case "$name" in '' | \#*) continue ;; esac
  [ -n "${!name:-}" ] || export "$name=$value"
done <local.env
