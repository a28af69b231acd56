#!/usr/bin/env bash
# Start any of the machine's services that is not answering, with the commands the machine
# itself uses (see the python-svc machine notes), and wait until each answers.
set -euo pipefail

wait_port() { # wait_port NAME PORT
    for _ in $(seq 1 60); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null; then
            echo "services: $1 answers on $2"
            return 0
        fi
        sleep 1
    done
    echo "services: $1 does not answer on $2" >&2
    return 1
}

answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if ! answers 5432; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start || true
fi
if ! answers 3306; then
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
fi
if ! answers 6379; then
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
        --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
fi
if ! answers 5672; then
    rabbitmq-server -detached || true
fi
wait_port PostgreSQL 5432
wait_port MariaDB 3306
wait_port Redis 6379
wait_port RabbitMQ 5672
