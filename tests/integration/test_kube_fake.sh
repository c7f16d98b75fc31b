#!/usr/bin/env bash
# The stand-in's own API semantics, asserted with curl where kubectl does not reach: Status objects
# for every error (shape, reason, code), resourceVersion bumps only on real changes, optimistic
# locking on PUT, merge-patch null deletes a key, json-patch test/replace, apply-patch refused with
# 415, set-based label selectors, limit/continue with remainingItemCount, deletecollection by
# selector answering with the deleted items, anonymous requests refused, control endpoint state.
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"
source "$RB_SOURCE_DIR/tests/fakes/kube_fake.sh"

T=$(rb_tmpdir)
F=$T/kube
rb_kube_fake "$F"
api() { kube_fake_api "$F" "$@"; }
CM=/api/v1/namespaces/payroll/configmaps

# anonymous: 401 Status
out=$(curl -sS --cacert "$F/ca.crt" "$KUBE_FAKE_URL/api/v1/namespaces/payroll/pods")
assert_eq "Status Failure Unauthorized 401" "$(jq -r '"\(.kind) \(.status) \(.reason) \(.code)"' <<<"$out")" "anonymous request: 401 Status"

# create, conflict on create, get
out=$(api POST "$CM" '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"t1","labels":{"tier":"a"}},"data":{"k":"v","x":"y"}}')
rv1=$(jq -r .metadata.resourceVersion <<<"$out")
assert_eq "payroll" "$(jq -r .metadata.namespace <<<"$out")" "namespace taken from the path"
out=$(api POST "$CM" '{"metadata":{"name":"t1"}}')
assert_eq "AlreadyExists 409" "$(jq -r '"\(.reason) \(.code)"' <<<"$out")" "create twice: 409 AlreadyExists"

# merge patch: null deletes a key; a no-op patch keeps the resourceVersion
out=$(api PATCH "$CM/t1" '{"data":{"x":null,"k":"w"}}' application/merge-patch+json)
rv2=$(jq -r .metadata.resourceVersion <<<"$out")
assert_eq '{"k":"w"}' "$(jq -c .data <<<"$out")" "merge patch: null removed x, k replaced"
[ "$rv2" != "$rv1" ] || rb_fail "resourceVersion not bumped by a change"
out=$(api PATCH "$CM/t1" '{"data":{"k":"w"}}' application/merge-patch+json)
assert_eq "$rv2" "$(jq -r .metadata.resourceVersion <<<"$out")" "a patch that changes nothing keeps the resourceVersion"

# json patch with a failing test op: 422, nothing changed; then a passing one
out=$(api PATCH "$CM/t1" '[{"op":"test","path":"/data/k","value":"zzz"},{"op":"replace","path":"/data/k","value":"q"}]' application/json-patch+json)
assert_eq "Invalid 422" "$(jq -r '"\(.reason) \(.code)"' <<<"$out")" "json patch failed test: 422"
out=$(api PATCH "$CM/t1" '[{"op":"test","path":"/data/k","value":"w"},{"op":"replace","path":"/data/k","value":"q"}]' application/json-patch+json)
assert_eq "q" "$(jq -r .data.k <<<"$out")" "json patch applied"
out=$(api PATCH "$CM/t1" 'data: {}' application/apply-patch+yaml)
assert_eq "UnsupportedMediaType 415" "$(jq -r '"\(.reason) \(.code)"' <<<"$out")" "server-side apply: 415"

# PUT with a stale resourceVersion: 409 Conflict
out=$(api PUT "$CM/t1" "{\"metadata\":{\"name\":\"t1\",\"resourceVersion\":\"$rv1\"},\"data\":{}}")
assert_eq "Conflict 409" "$(jq -r '"\(.reason) \(.code)"' <<<"$out")" "stale PUT: 409 Conflict"
assert_eq "q" "$(kube_fake_state "$F" '.objects["v1/configmaps"].payroll.t1.data.k')" "the stale PUT changed nothing"

# label selectors, set-based
for i in 1 2 3 4 5; do
  api POST "$CM" "{\"metadata\":{\"name\":\"s$i\",\"labels\":{\"set\":\"yes\",\"n\":\"$i\"}}}" >/dev/null
done
names() { jq -r '[.items[].metadata.name] | join(" ")'; }
assert_eq "s2 s4" "$(api GET "$CM?labelSelector=$(printf 'n in (2,4)' | jq -sRr @uri)" | names)" "selector: in"
assert_eq "s1 s3 s5" "$(api GET "$CM?labelSelector=$(printf 'set,n notin (2,4)' | jq -sRr @uri)" | names)" "selector: exists, notin"
assert_eq "s5" "$(api GET "$CM?labelSelector=$(printf 'set=yes,n!=1,n!=2,n!=3,n!=4' | jq -sRr @uri)" | names)" "selector: !="
assert_eq "payroll-config t1" "$(api GET "$CM?labelSelector=%21set" | names)" "selector: !key"
out=$(api GET "$CM?labelSelector=a%3D%3D%3D")
assert_eq "BadRequest 400" "$(jq -r '"\(.reason) \(.code)"' <<<"$out")" "a malformed selector: 400"

# pagination
page=$(api GET "$CM?labelSelector=set&limit=2")
assert_eq "s1 s2|3" "$(jq -r '"\([.items[].metadata.name] | join(" "))|\(.metadata.remainingItemCount)"' <<<"$page")" "first page, remaining count"
assert_eq "null" "$(jq -r '.items[0].kind' <<<"$page")" "list items carry no kind, as from a real server"
tok=$(jq -r .metadata.continue <<<"$page")
page=$(api GET "$CM?labelSelector=set&limit=2&continue=$tok")
tok=$(jq -r .metadata.continue <<<"$page")
page=$(api GET "$CM?labelSelector=set&limit=2&continue=$tok")
assert_eq "s5 null" "$(jq -r '"\([.items[].metadata.name] | join(" ")) \(.metadata.continue)"' <<<"$page")" "last page has no continue"

# deletecollection by selector answers with the deleted items
out=$(api DELETE "$CM?labelSelector=$(printf 'n in (1,2)' | jq -sRr @uri)")
assert_eq "ConfigMapList s1 s2" "$(jq -r '"\(.kind) \([.items[].metadata.name] | join(" "))"' <<<"$out")" "deletecollection: the deleted items"
assert_eq "s3 s4 s5" "$(kube_fake_state "$F" '[.objects["v1/configmaps"].payroll | keys[] | select(startswith("s"))] | join(" ")')" \
  "the others remain"

# unknown resource, wrong subresource, scale validation
assert_eq "NotFound 404" "$(api GET /apis/apps/v1/namespaces/payroll/widgets | jq -r '"\(.reason) \(.code)"')" "unknown resource: 404"
out=$(api PATCH /apis/apps/v1/namespaces/payroll/deployments/payroll-api/scale '{"spec":{"replicas":-1}}' application/merge-patch+json)
assert_eq "Invalid 422" "$(jq -r '"\(.reason) \(.code)"' <<<"$out")" "negative replicas: 422"
assert_eq "autoscaling/v1 Scale 3 app=payroll,tier=api" \
  "$(api GET /apis/apps/v1/namespaces/payroll/deployments/payroll-api/scale | jq -r '"\(.apiVersion) \(.kind) \(.spec.replicas) \(.status.selector)"')" \
  "the scale subresource"
