#!/usr/bin/env bash
# A private Postfix (from Debian) for interop tests, on loopback only.
# Usage: postfix_instance.sh start DIR PORT POSTIE_PORT   — writes DIR/conf, starts Postfix
#        postfix_instance.sh stop DIR
# Mail for bob@pf.test lands in the Maildir DIR/mail/pf.test/bob/; mail for xyz.com is relayed
# to Postie at 127.0.0.1:POSTIE_PORT. Clients on 127.0.0.0/8 may relay.
set -euo pipefail
cmd=$1 dir=$2
case "$cmd" in
start)
    port=$3 postie=$4
    mkdir -p "$dir/conf" "$dir/queue" "$dir/data" "$dir/mail"
    chown nobody:nogroup "$dir/mail"
    chown postfix "$dir/data"
    cat > "$dir/conf/main.cf" <<CONF
compatibility_level = 3.6
queue_directory = $dir/queue
data_directory = $dir/data
mail_owner = postfix
setgid_group = postdrop
myhostname = pf.test
mydomain = pf.test
myorigin = pf.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relay_domains = xyz.com
transport_maps = inline:{ xyz.com=smtp:[127.0.0.1]:$postie }
virtual_mailbox_domains = pf.test
virtual_mailbox_base = $dir/mail
virtual_mailbox_maps = inline:{ bob@pf.test=pf.test/bob/ }
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtp_dns_support_level = disabled
alias_maps =
alias_database =
local_recipient_maps =
biff = no
maillog_file = $dir/maillog
maillog_file_prefixes = $dir
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
CONF
    { echo "127.0.0.1:$port inet n - n - - smtpd"; cat "$(dirname "$0")/postfix_master.cf"; } > "$dir/conf/master.cf"
    postfix -c "$dir/conf" start
    ;;
stop)
    postfix -c "$dir/conf" stop || postfix -c "$dir/conf" abort || true
    ;;
esac
