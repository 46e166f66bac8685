#!/bin/bash
# up.sh - stand up a real, minimal OpenStack (Zed, Debian 12 packages) on
# 127.0.0.1 without systemd, debconf or dbconfig-common:
#   Keystone, Glance, Placement, Nova (api/conductor/scheduler + N fake
#   computes), Neutron (ML2, agentless "testcloud_fake" mech driver, L3 router
#   plugin), Cinder (api/scheduler/volume with cinder's FakeLoggingVolumeDriver)
# Only python3-<project> library packages are installed; configs, state, logs
# and pids live under $S. Idempotent: re-running skips what is already done
# and only starts services that are not running.
#
# env: TESTCLOUD_DIR (default /tmp/flowscape-testcloud), OS_PW (default secret),
#      NCOMPUTE (default 3), SEED=0 to skip creating demo resources,
#      SKIP_INSTALL=1 to skip apt.
set -euo pipefail
S=${TESTCLOUD_DIR:-/tmp/flowscape-testcloud}
PW=${OS_PW:-secret}
NCOMPUTE=${NCOMPUTE:-3}
E=$S/etc D=$S/data L=$S/log R=$S/run B=$S/bin LIB=$S/lib
H=127.0.0.1
RABBIT="rabbit://guest:guest@$H:5672/"
db() { echo "mysql+pymysql://openstack:$PW@$H:3306/$1?charset=utf8"; }
export PYTHONPATH=$LIB${PYTHONPATH:+:$PYTHONPATH}
T0=$(date +%s)
log() { printf '[up %4ss] %s\n' $(( $(date +%s) - T0 )) "$*"; }

PKGS="python3-keystone python3-glance python3-placement python3-nova
python3-neutron python3-cinder python3-openstackclient python3-osc-placement
rabbitmq-server uwsgi-core uwsgi-plugin-python3 mariadb-server python3-pymysql curl"
COMMON_DEBS="nova-common neutron-common cinder-common glance-common"

# ---------------------------------------------------------------- install
install_pkgs() {
  [ "${SKIP_INSTALL:-0}" = 1 ] && return
  local missing
  missing=$(dpkg-query -W -f='${Package} ${Status}\n' $PKGS 2>/dev/null |
            grep -c -v 'install ok installed' || true)
  if [ "$missing" != 0 ] || [ "$(dpkg-query -W $PKGS 2>/dev/null | wc -l)" -lt "$(echo $PKGS | wc -w)" ]; then
    # No systemd here; make sure postinsts do not start rabbitmq on 0.0.0.0.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
      chmod +x /usr/sbin/policy-rc.d
    fi
    log "apt-get install (library packages only: no debconf/dbconfig prompts)"
    for i in $(seq 1 30); do
      if DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
           --no-install-recommends $PKGS > $L/apt.log 2>&1; then break; fi
      grep -q 'Could not get lock\|dpkg was interrupted' $L/apt.log || { cat $L/apt.log; exit 1; }
      log "dpkg locked, retry $i"; sleep 10
    done
  fi
  # api-paste.ini files ship in the *-common packages, whose postinsts run
  # debconf/dbconfig-common; just unpack them instead of installing.
  if [ ! -f $S/pkgfiles/usr/share/nova-common/api-paste.ini ]; then
    mkdir -p $S/debs $S/pkgfiles
    (cd $S/debs && apt-get download $COMMON_DEBS > /dev/null 2>&1)
    for f in $S/debs/*.deb; do dpkg-deb -x "$f" $S/pkgfiles; done
  fi
}

# ---------------------------------------------------------------- helpers
# Run a console_scripts entry point (python3-<project> packages ship no
# /usr/bin wrappers for most of them).
write_osrun() {
  cat > $B/osrun <<'EOF'
#!/usr/bin/python3
import sys
from importlib.metadata import entry_points
name = sys.argv[1]
sys.argv = [name] + sys.argv[2:]
eps = [e for e in entry_points(group='console_scripts') if e.name == name]
if not eps:
    sys.exit('osrun: no console script %s' % name)
sys.exit(eps[0].load()())
EOF
  chmod +x $B/osrun
  # register the agentless ML2 mechanism driver as a stevedore entry point
  mkdir -p $LIB/testcloud_fake_mech-0.1.dist-info
  printf 'Metadata-Version: 2.1\nName: testcloud-fake-mech\nVersion: 0.1\n' \
    > $LIB/testcloud_fake_mech-0.1.dist-info/METADATA
  printf '[neutron.ml2.mechanism_drivers]\ntestcloud_fake = testcloud_fake_mech:TestcloudFakeMechanismDriver\n' \
    > $LIB/testcloud_fake_mech-0.1.dist-info/entry_points.txt
}

is_running() { [ -f $R/$1.pid ] && kill -0 "$(cat $R/$1.pid)" 2>/dev/null; }

# start NAME CMD... : run in its own session (pgid == pid) so down.sh can
# kill the whole tree (eventlet parents fork workers) by that one id.
start() {
  local name=$1; shift
  if is_running $name; then log "$name already running (pid $(cat $R/$name.pid))"; return; fi
  setsid "$@" >> $L/$name.out 2>&1 < /dev/null &
  echo $! > $R/$name.pid
  log "started $name pid $!"
}

wait_http() {  # wait_http URL NAME [timeout]
  local i
  for i in $(seq 1 ${3:-120}); do
    if curl -s -o /dev/null -m 2 "$1"; then return 0; fi
    sleep 0.5
  done
  log "ERROR: $2 did not come up on $1; tail of its logs:"
  tail -n 30 $L/$2*.out $L/$2*.log 2>/dev/null || true
  exit 1
}

authtoken() {  # authtoken USER
  cat <<EOF
[keystone_authtoken]
www_authenticate_uri = http://$H:5000/
auth_url = http://$H:5000/
memcached_servers =
auth_type = password
project_domain_name = Default
user_domain_name = Default
project_name = service
username = $1
password = $PW
region_name = RegionOne
EOF
}
svcauth() {  # svcauth SECTION USER  (keystoneauth options for a client section)
  cat <<EOF
[$1]
auth_type = password
auth_url = http://$H:5000/v3
project_domain_name = Default
user_domain_name = Default
project_name = service
username = $2
password = $PW
region_name = RegionOne
valid_interfaces = public
EOF
}

# ---------------------------------------------------------------- rabbitmq
rabbit_env() {
  export HOME=$D/rabbitmq RABBITMQ_NODENAME=rabbit@localhost \
    RABBITMQ_NODE_IP_ADDRESS=$H RABBITMQ_NODE_PORT=5672 ERL_EPMD_ADDRESS=$H \
    RABBITMQ_DIST_PORT=25672 RABBITMQ_MNESIA_BASE=$D/rabbitmq/mnesia \
    RABBITMQ_LOG_BASE=$L/rabbitmq RABBITMQ_CONF_ENV_FILE=$E/rabbitmq-env.conf \
    RABBITMQ_CONFIG_FILE=$E/rabbitmq RABBITMQ_ENABLED_PLUGINS_FILE=$E/rabbitmq-plugins \
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
}
up_rabbit() {
  mkdir -p $D/rabbitmq/mnesia $L/rabbitmq
  touch $E/rabbitmq-env.conf
  echo '[].' > $E/rabbitmq-plugins
  printf 'listeners.tcp.default = 127.0.0.1:5672\n' > $E/rabbitmq.conf
  # run epmd ourselves in the foreground (loopback only) so that its pid is
  # known; rabbitmq would otherwise spawn a daemonized one on all addresses
  start epmd /usr/bin/epmd -address $H -port 4369
  sleep 0.5
  ( rabbit_env; start rabbitmq /usr/lib/rabbitmq/bin/rabbitmq-server )
  ( rabbit_env; for i in $(seq 1 60); do
      /usr/lib/rabbitmq/bin/rabbitmqctl -q await_startup -t 60 >/dev/null 2>&1 && exit 0; sleep 1; done
    echo "rabbitmq did not start"; tail -30 $L/rabbitmq.out; exit 1 )
  log "rabbitmq up"
}

# ---------------------------------------------------------------- mariadb
# SQLite was tried first: keystone/glance/placement/nova db syncs work on it,
# but neutron's migrations need ALTER CONSTRAINT and any multi-process
# service hits "database is locked"; so one private MariaDB for all.
up_mysql() {
  if [ ! -d $D/mysql/mysql ]; then
    mkdir -p $D/mysql
    mariadb-install-db --no-defaults --datadir=$D/mysql --user=root \
      --auth-root-authentication-method=socket --skip-test-db > $L/mysql-install.log 2>&1
  fi
  start mysql /usr/sbin/mariadbd --no-defaults --datadir=$D/mysql --user=root \
    --socket=$R/mysql.sock --pid-file=$R/mysqld.pidfile --bind-address=$H --port=3306 \
    --log-error=$L/mysql.err --skip-log-bin --performance-schema=off \
    --innodb-buffer-pool-size=128M --innodb-flush-log-at-trx-commit=0 \
    --innodb-doublewrite=0 --max-connections=1000 \
    --character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci
  local i
  for i in $(seq 1 60); do
    mariadb --no-defaults -S $R/mysql.sock -uroot -e 'select 1' >/dev/null 2>&1 && break; sleep 0.5
  done
  local sql="" n
  for n in keystone glance placement nova_api nova_cell0 nova neutron cinder; do
    sql="$sql CREATE DATABASE IF NOT EXISTS $n;"
  done
  mariadb --no-defaults -S $R/mysql.sock -uroot -e "$sql
    CREATE USER IF NOT EXISTS 'openstack'@'127.0.0.1' IDENTIFIED BY '$PW';
    CREATE USER IF NOT EXISTS 'openstack'@'localhost' IDENTIFIED BY '$PW';
    GRANT ALL ON *.* TO 'openstack'@'127.0.0.1'; GRANT ALL ON *.* TO 'openstack'@'localhost';"
  log "mariadb up"
}

# ---------------------------------------------------------------- keystone
up_keystone() {
  mkdir -p $E/keystone $D/keystone-fernet $D/keystone-credential
  cat > $E/keystone/keystone.conf <<EOF
[DEFAULT]
log_file = $L/keystone.log
[database]
connection = $(db keystone)
[token]
provider = fernet
[fernet_tokens]
key_repository = $D/keystone-fernet
[credential]
key_repository = $D/keystone-credential
[cache]
enabled = false
[identity]
# bcrypt default (12 rounds) costs ~0.5 s per password auth on this box
password_hash_rounds = 4
EOF
  local km="keystone-manage --config-file $E/keystone/keystone.conf"
  if [ ! -f $D/keystone.done ]; then
    $km db_sync
    $km fernet_setup --keystone-user root --keystone-group root
    $km credential_setup --keystone-user root --keystone-group root
    $km bootstrap --bootstrap-password "$PW" --bootstrap-region-id RegionOne \
      --bootstrap-admin-url http://$H:5000/v3/ --bootstrap-internal-url http://$H:5000/v3/ \
      --bootstrap-public-url http://$H:5000/v3/
    touch $D/keystone.done
    log "keystone db + bootstrap done"
  fi
  start keystone uwsgi --plugin python3 --http-socket $H:5000 \
    --wsgi-file /usr/bin/keystone-wsgi-public --master --processes 2 --threads 2 \
    --die-on-term --need-app --add-header "Connection: close" --buffer-size 65535 --env OS_KEYSTONE_CONFIG_DIR=$E/keystone
  wait_http http://$H:5000/v3 keystone
  log "keystone up"
}

write_openrc() {
  cat > $S/openrc <<EOF
export OS_AUTH_URL=http://$H:5000/v3
export OS_USERNAME=admin
export OS_PASSWORD=$PW
export OS_PROJECT_NAME=admin
export OS_USER_DOMAIN_NAME=Default
export OS_PROJECT_DOMAIN_NAME=Default
# gophercloud's AuthOptionsFromEnv ignores OS_*_DOMAIN_NAME and needs this
export OS_DOMAIN_NAME=Default
export OS_REGION_NAME=RegionOne
export OS_IDENTITY_API_VERSION=3
export OS_COMPUTE_API_VERSION=2.88
export OS_VOLUME_API_VERSION=3
EOF
}

# ---------------------------------------------------------------- glance
up_glance() {
  mkdir -p $E/glance $D/glance/images $D/glance/staging $D/glance/tasks
  cp $S/pkgfiles/usr/share/glance-common/glance-api-paste.ini $E/glance/
  cat > $E/glance/glance-api.conf <<EOF
[DEFAULT]
bind_host = $H
bind_port = 9292
workers = 1
log_file = $L/glance.log
node_staging_uri = file://$D/glance/staging
[database]
connection = $(db glance)
$(authtoken glance)
[paste_deploy]
flavor = keystone
config_file = $E/glance/glance-api-paste.ini
[glance_store]
stores = file
default_store = file
filesystem_store_datadir = $D/glance/images
[oslo_concurrency]
lock_path = $D/glance/lock
[task]
work_dir = $D/glance/tasks
EOF
  if [ ! -f $D/glance.done ]; then
    $B/osrun glance-manage --config-file $E/glance/glance-api.conf db_sync > $L/glance-dbsync.log 2>&1
    touch $D/glance.done
  fi
  start glance $B/osrun glance-api --config-file $E/glance/glance-api.conf
}

# ---------------------------------------------------------------- placement
up_placement() {
  mkdir -p $E/placement
  cat > $E/placement/placement.conf <<EOF
[DEFAULT]
log_file = $L/placement.log
[placement_database]
connection = $(db placement)
[api]
auth_strategy = keystone
$(authtoken placement)
EOF
  if [ ! -f $D/placement.done ]; then
    placement-manage --config-file $E/placement/placement.conf db sync
    touch $D/placement.done
  fi
  start placement uwsgi --plugin python3 --http-socket $H:8778 \
    --wsgi-file /usr/bin/placement-api --master --processes 2 --threads 2 \
    --die-on-term --need-app --add-header "Connection: close" --env OS_PLACEMENT_CONFIG_DIR=$E/placement
}

# ---------------------------------------------------------------- nova
nova_conf() {
  mkdir -p $E/nova $D/nova/instances $D/nova/lock
  cp $S/pkgfiles/usr/share/nova-common/api-paste.ini $E/nova/
  cat > $E/nova/nova.conf <<EOF
[DEFAULT]
transport_url = $RABBIT
my_ip = $H
state_path = $D/nova
instances_path = $D/nova/instances
compute_driver = fake.FakeDriver
enabled_apis = osapi_compute
osapi_compute_listen = $H
osapi_compute_listen_port = 8774
osapi_compute_workers = 1
use_rootwrap_daemon = false
heal_instance_info_cache_interval = -1
[wsgi]
api_paste_config = $E/nova/api-paste.ini
[api]
auth_strategy = keystone
[api_database]
connection = $(db nova_api)
[database]
connection = $(db nova)
[conductor]
workers = 1
[scheduler]
workers = 1
discover_hosts_in_cells_interval = -1
[oslo_concurrency]
lock_path = $D/nova/lock
[glance]
api_servers = http://$H:9292
$(authtoken nova)
$(svcauth placement nova)
$(svcauth neutron nova)
$(svcauth cinder nova)
os_region_name = RegionOne
[service_user]
send_service_user_token = false
[vnc]
enabled = false
[oslo_messaging_notifications]
driver = noop
EOF
}
up_nova() {
  nova_conf
  local nm="$B/osrun nova-manage --config-file $E/nova/nova.conf"
  if [ ! -f $D/nova.done ]; then
    $nm api_db sync
    $nm cell_v2 list_cells 2>/dev/null | grep -q ' cell0 ' ||
      $nm cell_v2 map_cell0 --database_connection "$(db nova_cell0)"
    $nm cell_v2 list_cells 2>/dev/null | grep -q ' cell1 ' ||
      $nm cell_v2 create_cell --name cell1 --verbose
    $nm db sync
    touch $D/nova.done
    log "nova db + cells v2 done"
  fi
  start nova-api $B/osrun nova-api --config-file $E/nova/nova.conf --log-file $L/nova-api.log
  start nova-conductor $B/osrun nova-conductor --config-file $E/nova/nova.conf --log-file $L/nova-conductor.log
  start nova-scheduler $B/osrun nova-scheduler --config-file $E/nova/nova.conf --log-file $L/nova-scheduler.log
  local i
  for i in $(seq 1 $NCOMPUTE); do
    printf '[DEFAULT]\nhost = compute-%s\nlog_file = %s/nova-compute-%s.log\n' $i $L $i \
      > $E/nova/compute-$i.conf
    start nova-compute-$i $B/osrun nova-compute --config-file $E/nova/nova.conf \
      --config-file $E/nova/compute-$i.conf
  done
}

# ---------------------------------------------------------------- neutron
up_neutron() {
  mkdir -p $E/neutron/plugins/ml2 $D/neutron/lock
  cp $S/pkgfiles/usr/share/neutron-common/api-paste.ini $E/neutron/
  cat > $E/neutron/neutron.conf <<EOF
[DEFAULT]
bind_host = $H
bind_port = 9696
core_plugin = ml2
service_plugins = router
transport_url = $RABBIT
auth_strategy = keystone
api_paste_config = $E/neutron/api-paste.ini
state_path = $D/neutron
api_workers = 1
rpc_workers = 1
rpc_state_report_workers = 0
log_file = $L/neutron.log
notify_nova_on_port_status_changes = false
notify_nova_on_port_data_changes = false
[database]
connection = $(db neutron)
$(authtoken neutron)
[oslo_concurrency]
lock_path = $D/neutron/lock
[agent]
root_helper =
[oslo_messaging_notifications]
driver = noop
EOF
  cat > $E/neutron/plugins/ml2/ml2_conf.ini <<EOF
[ml2]
type_drivers = flat,vlan,vxlan
tenant_network_types = vxlan
mechanism_drivers = testcloud_fake
extension_drivers = port_security
[ml2_type_flat]
flat_networks = public
[ml2_type_vlan]
network_vlan_ranges = physnet1:100:200
[ml2_type_vxlan]
vni_ranges = 1:1000
EOF
  local nc="--config-file $E/neutron/neutron.conf --config-file $E/neutron/plugins/ml2/ml2_conf.ini"
  if [ ! -f $D/neutron.done ]; then
    $B/osrun neutron-db-manage $nc upgrade heads > $L/neutron-dbsync.log 2>&1 ||
      { tail -30 $L/neutron-dbsync.log; exit 1; }
    touch $D/neutron.done
    log "neutron db done"
  fi
  start neutron-server $B/osrun neutron-server $nc
}

# ---------------------------------------------------------------- cinder
up_cinder() {
  mkdir -p $E/cinder $D/cinder/lock
  cp $S/pkgfiles/usr/share/cinder-common/api-paste.ini $E/cinder/
  cp $S/pkgfiles/etc/cinder/resource_filters.json $E/cinder/
  cat > $E/cinder/cinder.conf <<EOF
[DEFAULT]
transport_url = $RABBIT
auth_strategy = keystone
my_ip = $H
host = cinder-1
osapi_volume_listen = $H
osapi_volume_listen_port = 8776
osapi_volume_workers = 1
api_paste_config = $E/cinder/api-paste.ini
resource_query_filters_file = $E/cinder/resource_filters.json
state_path = $D/cinder
enabled_backends = fake
default_volume_type = __DEFAULT__
glance_api_servers = http://$H:9292
[database]
connection = $(db cinder)
$(authtoken cinder)
[oslo_concurrency]
lock_path = $D/cinder/lock
[fake]
volume_driver = cinder.tests.fake_driver.FakeLoggingVolumeDriver
volume_backend_name = fake
[oslo_messaging_notifications]
driver = noop
EOF
  local cc="--config-file $E/cinder/cinder.conf"
  if [ ! -f $D/cinder.done ]; then
    $B/osrun cinder-manage $cc db sync > $L/cinder-dbsync.log 2>&1 ||
      { tail -30 $L/cinder-dbsync.log; exit 1; }
    touch $D/cinder.done
    log "cinder db done"
  fi
  start cinder-api $B/osrun cinder-api $cc --log-file $L/cinder-api.log
  start cinder-scheduler $B/osrun cinder-scheduler $cc --log-file $L/cinder-scheduler.log
  start cinder-volume $B/osrun cinder-volume $cc --log-file $L/cinder-volume.log
}

# ================================================================ main
mkdir -p $E $D $L $R $B $LIB
rm -f $S/ready   # written last, when every API answers (and the seed is done)
# the recipe's own files (catalog, mechanism driver, seed) sit beside this script
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ "$HERE" != "$S" ]; then
  cp "$HERE"/lib/*.py $LIB/
  cp "$HERE"/seed.sh $S/seed.sh
fi
install_pkgs
write_osrun
write_openrc
log "install/prep done"

up_mysql & MYSQL_JOB=$!
up_rabbit
wait $MYSQL_JOB   # not a bare `wait`: the services are background jobs too
up_keystone
. $S/openrc
if [ ! -f $D/catalog.done ]; then
  /usr/bin/python3 $LIB/catalog.py "$PW"
  touch $D/catalog.done
fi
log "catalog done"
up_glance
up_placement
up_nova
up_neutron
up_cinder
wait_http http://$H:9292/ glance
wait_http http://$H:8778/ placement
wait_http http://$H:8774/ nova-api
wait_http http://$H:9696/ neutron-server
wait_http http://$H:8776/ cinder-api
log "all APIs answer"

# computes register themselves via RPC; map them into cell1
for i in $(seq 1 60); do
  n=$(openstack compute service list --service nova-compute -f value -c State 2>/dev/null | grep -c up || true)
  [ "$n" -ge "$NCOMPUTE" ] && break; sleep 1
done
$B/osrun nova-manage --config-file $E/nova/nova.conf cell_v2 discover_hosts > /dev/null
log "$n nova-compute services up, hosts discovered"

if [ "${SEED:-1}" = 1 ]; then
  bash $S/seed.sh
  log "seed done"
fi
touch $S/ready
log "UP: source $S/openrc"
