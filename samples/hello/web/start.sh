#!/bin/sh
# Renders the page from the environment, then serves it in the foreground.
mkdir -p /www
sed -e "s|@GREETING@|${GREETING:-hello}|" -e "s|@HOSTNAME@|$(hostname)|" /srv/index.html.in > /www/index.html
exec httpd -f -p 80 -h /www
