#!/usr/bin/env bash
# The curl walk-through of docs/integrators.md, runnable: sign in as a staff member
# (authorization code + PKCE through the login form), create an API key,
# list the keys, delete the key. Needs curl, openssl and node.
#   BASE=http://localhost:3000 EMAIL=owner@demo.test PASSWORD=demo-password bash docs/walkthrough.sh
set -euo pipefail
BASE=${BASE:-http://localhost:3000}
EMAIL=${EMAIL:-owner@demo.test}
PASSWORD=${PASSWORD:-demo-password}
REDIRECT="$BASE/console/callback"
json_field() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s)[process.argv[1]]))' "$1"; }

# 1. PKCE: a random verifier and its S256 challenge.
VERIFIER=$(openssl rand -base64 48 | tr -d '=+/\n' | cut -c1-64)
CHALLENGE=$(printf '%s' "$VERIFIER" | openssl dgst -sha256 -binary | openssl base64 -A | tr '+/' '-_' | tr -d '=')
JAR=$(mktemp); trap 'rm -f "$JAR"' EXIT

# 2. The authorization request redirects to the login page ...
LOGIN_PAGE=$(curl -sS -o /dev/null -c "$JAR" -b "$JAR" -w '%{redirect_url}' -G "$BASE/oauth/auth" \
  --data-urlencode client_id=octiv-app --data-urlencode response_type=code \
  --data-urlencode 'scope=openid profile admin' --data-urlencode "resource=$BASE/api" \
  --data-urlencode "redirect_uri=$REDIRECT" --data-urlencode "code_challenge=$CHALLENGE" \
  --data-urlencode code_challenge_method=S256 --data-urlencode state=walkthrough)
# ... whose form posts email and password ...
RESUME=$(curl -sS -o /dev/null -c "$JAR" -b "$JAR" -w '%{redirect_url}' \
  --data-urlencode "email=$EMAIL" --data-urlencode "password=$PASSWORD" "$LOGIN_PAGE/login")
# ... and the resumed authorization redirects to the app's callback with a code.
CALLBACK=$(curl -sS -o /dev/null -c "$JAR" -b "$JAR" -w '%{redirect_url}' "$RESUME")
CODE=$(printf '%s' "$CALLBACK" | sed -n 's/.*[?&]code=\([^&]*\).*/\1/p')

# 3. Exchange the code for an admin API access token.
TOKEN=$(curl -sS "$BASE/oauth/token" -d grant_type=authorization_code -d client_id=octiv-app \
  -d "code=$CODE" -d "code_verifier=$VERIFIER" --data-urlencode "redirect_uri=$REDIRECT" \
  --data-urlencode "resource=$BASE/api" | json_field access_token)
echo "signed in as $EMAIL"

# 4. Create a key. The response is the only time the key is shown: store it now.
CREATED=$(curl -sS "$BASE/api/v1/api-keys" -H "Authorization: Bearer $TOKEN" \
  -H 'Content-Type: application/json' -d '{"name":"Landing Page Connector","scopes":["leads:create"]}')
KEY_ID=$(printf '%s' "$CREATED" | json_field id)
API_KEY=$(printf '%s' "$CREATED" | json_field key)
echo "created key $KEY_ID (${API_KEY:0:12}..., shown once)"

# 5. List keys: name, scopes, created date; never the key.
curl -sS "$BASE/api/v1/api-keys" -H "Authorization: Bearer $TOKEN"; echo

# 6. Delete it: 204, and the key stops working at once.
curl -sS -o /dev/null -w 'delete: %{http_code}\n' -X DELETE "$BASE/api/v1/api-keys/$KEY_ID" -H "Authorization: Bearer $TOKEN"
