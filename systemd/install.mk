# make install / make uninstall, included from the Makefile.
#
#   make install [PREFIX=/usr/local] [DESTDIR=/staging/root]
#
# Installs, under DESTDIR:
#   $(SBINDIR)/ingestd                    the daemon (release build), 0755
#   $(SYSCONFDIR)/ingestd/ingestd.ini     config/ingestd.ini with one change:
#                                         [output] path = $(LOGDIR)/records.jsonl;
#                                         an existing file is left alone
#   $(SYSTEMDUNITDIR)/ingestd.service, ingestd-activated.service, ingestd.socket
#   $(SYSUSERSDIR)/ingestd.conf           the ingestd user and group
#   $(MANDIR)/man8/ingestd.8, man5/ingestd.ini.5
#   $(LOGROTATEDIR)/ingestd               rotation of /var/log/ingestd/*.jsonl
#
# Units go to $(PREFIX)/lib/systemd/system: systemd searches
# /usr/local/lib/systemd/system as well as /usr/lib/systemd/system, so the
# default prefix works and a package build (PREFIX=/usr) lands in the
# distribution's directory.  The configuration lives in /etc whatever the
# prefix (the units name it).  The units in systemd/ name the default paths
# (/usr/local/sbin/ingestd, /etc/ingestd/ingestd.ini); installing rewrites
# them to SBINDIR and SYSCONFDIR.
#
# With an empty DESTDIR (a live install) it also creates the user
# (systemd-sysusers) and reloads systemd when they are available; it does
# not enable or start anything.

ifndef INGESTD_INSTALL_MK
INGESTD_INSTALL_MK := 1

BUILD          ?= build
PREFIX         ?= /usr/local
DESTDIR        ?=
SBINDIR        ?= $(PREFIX)/sbin
SYSCONFDIR     ?= /etc
MANDIR         ?= $(PREFIX)/share/man
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR    ?= $(PREFIX)/lib/sysusers.d
LOGROTATEDIR   ?= $(SYSCONFDIR)/logrotate.d
# Fixed: the units' LogsDirectory=ingestd makes /var/log/ingestd the one
# directory the sandboxed daemon may write.
LOGDIR         := /var/log/ingestd
INSTALL        ?= install

INGESTD_UNITS := ingestd.service ingestd-activated.service ingestd.socket

# The units and the config with the installation's paths.
INGESTD_SED_UNIT := -e 's|/usr/local/sbin/ingestd|$(SBINDIR)/ingestd|g' \
                    -e 's|/etc/ingestd/ingestd.ini|$(SYSCONFDIR)/ingestd/ingestd.ini|g'
INGESTD_SED_CONF := -e '/^\[output\]/,/^\[/ s|^path = .*|path = $(LOGDIR)/records.jsonl|'

.PHONY: install uninstall

install: $(BUILD)/ingestd
	@set -e; \
	d='$(DESTDIR)'; \
	$(INSTALL) -d -m 0755 "$$d$(SBINDIR)" "$$d$(SYSCONFDIR)/ingestd" "$$d$(SYSTEMDUNITDIR)" \
		"$$d$(SYSUSERSDIR)" "$$d$(MANDIR)/man8" "$$d$(MANDIR)/man5" "$$d$(LOGROTATEDIR)"; \
	$(INSTALL) -m 0755 $(BUILD)/ingestd "$$d$(SBINDIR)/ingestd"; \
	tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	sed $(INGESTD_SED_CONF) config/ingestd.ini > "$$tmp/ingestd.ini"; \
	grep -q '^path = $(LOGDIR)/records.jsonl$$' "$$tmp/ingestd.ini"; \
	if [ -e "$$d$(SYSCONFDIR)/ingestd/ingestd.ini" ]; then \
		echo "install: keeping the existing $$d$(SYSCONFDIR)/ingestd/ingestd.ini;" \
		     "the shipped one is $$d$(SYSCONFDIR)/ingestd/ingestd.ini.dist"; \
		$(INSTALL) -m 0644 "$$tmp/ingestd.ini" "$$d$(SYSCONFDIR)/ingestd/ingestd.ini.dist"; \
	else \
		$(INSTALL) -m 0644 "$$tmp/ingestd.ini" "$$d$(SYSCONFDIR)/ingestd/ingestd.ini"; \
	fi; \
	for u in $(INGESTD_UNITS); do \
		sed $(INGESTD_SED_UNIT) "systemd/$$u" > "$$tmp/$$u"; \
		$(INSTALL) -m 0644 "$$tmp/$$u" "$$d$(SYSTEMDUNITDIR)/$$u"; \
	done; \
	$(INSTALL) -m 0644 systemd/ingestd.sysusers "$$d$(SYSUSERSDIR)/ingestd.conf"; \
	$(INSTALL) -m 0644 daemon/ingestd.8 "$$d$(MANDIR)/man8/ingestd.8"; \
	$(INSTALL) -m 0644 daemon/ingestd.ini.5 "$$d$(MANDIR)/man5/ingestd.ini.5"; \
	$(INSTALL) -m 0644 systemd/ingestd.logrotate "$$d$(LOGROTATEDIR)/ingestd"; \
	if [ -z "$$d" ]; then \
		if command -v systemd-sysusers >/dev/null 2>&1; then \
			systemd-sysusers "$(SYSUSERSDIR)/ingestd.conf"; \
		fi; \
		if [ -d /run/systemd/system ]; then systemctl daemon-reload; fi; \
		echo "install: done.  Start with: systemctl enable --now ingestd.service"; \
		echo "         (or, socket-activated: systemctl enable --now ingestd.socket)"; \
	fi

uninstall:
	rm -f '$(DESTDIR)$(SBINDIR)/ingestd' \
	      $(foreach u,$(INGESTD_UNITS),'$(DESTDIR)$(SYSTEMDUNITDIR)/$(u)') \
	      '$(DESTDIR)$(SYSUSERSDIR)/ingestd.conf' \
	      '$(DESTDIR)$(MANDIR)/man8/ingestd.8' '$(DESTDIR)$(MANDIR)/man5/ingestd.ini.5' \
	      '$(DESTDIR)$(LOGROTATEDIR)/ingestd' \
	      '$(DESTDIR)$(SYSCONFDIR)/ingestd/ingestd.ini.dist'
	@echo "uninstall: kept $(DESTDIR)$(SYSCONFDIR)/ingestd/ingestd.ini and $(LOGDIR) (the records)"

endif
