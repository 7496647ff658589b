#!/usr/bin/env bash
# Certificates for tests and the demo, generated on the spot with openssl and
# never committed (a key in the repository is a key anyone has).
#
#   scripts/make-test-certs.sh DIR NODE=ADDR[,ADDR...] [NODE=ADDR...]
#
# writes into DIR (created, mode 0700):
#   ca.pem, ca.key               a test CA (ca.key stays in DIR: it signs the others)
#   NODE.pem, NODE.key           per node: SAN = the addresses given (IPs or DNS
#                                names), 127.0.0.1 and localhost; key mode 0600
#   expired.pem, expired.key     signed by the CA, valid 2001-2002 only
#   wrong-name.pem, wrong-name.key  signed by the CA, SAN only wrong.invalid / 192.0.2.99
#   other-ca.pem, other.pem, other.key  a second CA and a node cert it signed
#                                (names like the first node's: trusted by nobody here)
# Each cert can serve as a server and as a client certificate (mutual TLS).
# Takes about a second (EC P-256 keys).
set -euo pipefail

die() { echo "make-test-certs: $*" >&2; exit 1; }
[ $# -ge 2 ] || die "usage: $0 DIR NODE=ADDR[,ADDR...] [NODE=ADDR...]"
command -v openssl >/dev/null || die "openssl is not installed (apt-get install openssl)"
dir=$1
shift
mkdir -p "$dir"
chmod 700 "$dir"
cd "$dir"
umask 077

newkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; chmod 600 "$1"; }

# ext FILE SAN: the extensions of a leaf certificate.
ext() {
  cat >"$1" <<EOF
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = $2
EOF
}

san_of() {  # "10.0.0.1,alpha.example" -> "IP:10.0.0.1, DNS:alpha.example, IP:127.0.0.1, DNS:localhost"
  local out="" a
  IFS=',' read -ra addrs <<<"$1"
  for a in "${addrs[@]}" 127.0.0.1 localhost; do
    if [[ $a =~ ^[0-9.]+$ || $a == *:* ]]; then out+="${out:+, }IP:$a"; else out+="${out:+, }DNS:$a"; fi
  done
  echo "$out"
}

# leaf NAME CA_PREFIX SAN [DAYS|expired]
leaf() {
  local name=$1 ca=$2 san=$3 when=${4:-365}
  newkey "$name.key"
  openssl req -new -key "$name.key" -subj "/CN=$name" -out "$name.csr" 2>/dev/null
  ext "$name.ext" "$san"
  if [ "$when" = expired ]; then
    # openssl x509 cannot backdate; `openssl ca` can, with a throwaway database.
    mkdir -p ca-db
    : >ca-db/index.txt
    cat >ca-db/ca.cnf <<EOF
[ca]
default_ca = test
[test]
database = ca-db/index.txt
new_certs_dir = ca-db
serial = ca-db/serial
default_md = sha256
policy = any
copy_extensions = none
[any]
commonName = supplied
EOF
    openssl rand -hex 8 >ca-db/serial
    openssl ca -batch -config ca-db/ca.cnf -cert "$ca.pem" -keyfile "$ca.key" -in "$name.csr" -out "$name.pem" \
      -startdate 20010101000000Z -enddate 20020101000000Z -extfile "$name.ext" -notext 2>/dev/null
    rm -rf ca-db
  else
    openssl x509 -req -in "$name.csr" -CA "$ca.pem" -CAkey "$ca.key" -CAcreateserial -days "$when" \
      -extfile "$name.ext" -out "$name.pem" 2>/dev/null
  fi
  rm -f "$name.csr" "$name.ext"
  chmod 644 "$name.pem"
}

# ca PREFIX CN
ca() {
  newkey "$1.key"
  openssl req -x509 -new -key "$1.key" -subj "/CN=$2" -days 365 -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" -out "$1.pem" 2>/dev/null
  chmod 644 "$1.pem"
}

ca ca "tandem test CA"
first=""
for spec in "$@"; do
  node=${spec%%=*}
  addrs=${spec#*=}
  [[ $node =~ ^[A-Za-z0-9_-]+$ && $spec == *=* && -n $addrs ]] || die "'$spec' is not NODE=ADDR[,ADDR...]"
  leaf "$node" ca "$(san_of "$addrs")"
  [ -n "$first" ] || first=$addrs
done
leaf expired ca "$(san_of "$first")" expired
leaf wrong-name ca "DNS:wrong.invalid, IP:192.0.2.99"
ca other-ca "another CA"
leaf other other-ca "$(san_of "$first")"
rm -f ./*.srl
