"""Make sure RabbitMQ answers on 127.0.0.1:5672: start it (`rabbitmq-server -detached`) when it does not."""
import shutil
import socket
import subprocess
import sys
import time


def up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5672), timeout=1):
            return True
    except OSError:
        return False


def main() -> int:
    if up():
        return 0
    exe = shutil.which("rabbitmq-server") or "/usr/sbin/rabbitmq-server"
    print("starting RabbitMQ (rabbitmq-server -detached) …", file=sys.stderr)
    subprocess.run([exe, "-detached"], check=False)
    ctl = shutil.which("rabbitmqctl") or "/usr/sbin/rabbitmqctl"
    subprocess.run([ctl, "wait", "--timeout", "120", "/var/lib/rabbitmq/mnesia/rabbit@localhost.pid"],
                   check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(240):
        if up():
            return 0
        time.sleep(0.5)
    print("RabbitMQ did not come up on 127.0.0.1:5672", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
