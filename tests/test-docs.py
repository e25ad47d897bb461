#!/usr/bin/env python3
# Doc checks: the man pages render without warnings and say everything the code offers (every
# vbusctl verb and option, every vbusd option, every D-Bus member and error), so they cannot drift.
#   test-docs.py MANDIR VBUSCTL VBUSD DAEMON_SRCDIR   (TAP output)
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

PAGES = ['vbusctl.8', 'vbusd.8', 'vbus.json.5', 'vbus-policy.5', 'org.vbus1.5', 'vbus.4']

n = 0
failed = 0


def ok(cond, what, diag=()):
    global n, failed
    n += 1
    print(('ok' if cond else 'not ok') + ' %d - %s' % (n, what))
    if not cond:
        failed += 1
        for d in diag:
            print('# ' + d)
    sys.stdout.flush()
    return cond


def render(path):
    """The page as a user reads it: man(1), wide, ASCII, no hyphenation or justification."""
    env = dict(os.environ, MANWIDTH='200', LC_ALL='C.UTF-8', MAN_KEEP_FORMATTING='')
    env.pop('MANPAGER', None)
    env.pop('PAGER', None)
    p = subprocess.run(['man', '--warnings', '--nh', '--nj', '-E', 'UTF-8', '-l', path],
                       env=env, capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def word_re(word):
    return re.compile(r'(?<![\w-])' + re.escape(word) + r'(?![\w-])')


def sections(text):
    """Section heading (a line in capitals at column 0) -> its text."""
    out, cur = {}, None
    for line in text.splitlines():
        if line and not line[0].isspace() and line.upper() == line and line.strip():
            cur = line.strip()
            out[cur] = ''
        elif cur:
            out[cur] += line + '\n'
    return out


def squash(s):
    return re.sub(r'\s+', ' ', s)


def main():
    mandir, vbusctl, vbusd, daemon_src = sys.argv[1:5]
    # vbus-dra (built with -Ddra): its page, and its options, as those of vbusd below.
    vbus_dra = sys.argv[5] if len(sys.argv) > 5 else None
    if vbus_dra:
        PAGES.append('vbus-dra.8')

    texts = {}
    # 1. Every page is built and renders without a warning from man or groff.
    for page in PAGES:
        path = os.path.join(mandir, page)
        if not ok(os.path.exists(path), 'man page %s is built' % page):
            continue
        rc, out, err = render(path)
        texts[page] = out
        ok(rc == 0 and err.strip() == '' and len(out) > 200,
           '%s renders with man --warnings, no warnings' % page,
           ['rc %d' % rc] + err.splitlines()[:10])
        g = subprocess.run(['groff', '-ww', '-z', '-k', '-man', '-Tutf8', path],
                           capture_output=True, text=True)
        ok(g.returncode == 0 and g.stderr.strip() == '', '%s: groff -ww is silent' % page,
           g.stderr.splitlines()[:10])
        name = page.rsplit('.', 1)[0]
        # What mandb puts in the whatis database, so that apropos/man -k find the page.
        lg = subprocess.run(['lexgrog', path], capture_output=True, text=True)
        ok(lg.returncode == 0 and ('"%s - ' % name) in lg.stdout,
           '%s: lexgrog reads the whatis entry of %s' % (page, name), lg.stdout.splitlines())
        ok(re.search(r'^NAME\n\s+' + re.escape(name) + r'\b', out, re.M) is not None,
           '%s has a NAME section naming %s' % (page, name))

    # 2. vbusctl: every verb and option of --help is in vbusctl(8); no verb documented that
    #    the program does not have.
    helptext = subprocess.run([vbusctl, '--help'], capture_output=True, text=True,
                              check=True).stdout
    ok('Commands:' in helptext and 'Options:' in helptext, 'vbusctl --help has Commands and Options')
    cmds = helptext.split('Commands:', 1)[1].split('\n\n', 1)[0]
    verbs = []
    for line in cmds.splitlines():
        m = re.match(r'^  ([a-z][a-z-]*)\b', line)
        if m and m.group(1) not in verbs:
            verbs.append(m.group(1))
    ok(len(verbs) >= 10, 'found %d verbs in vbusctl --help' % len(verbs), [' '.join(verbs)])
    longopts = sorted(set(re.findall(r'(?<![\w-])(--[a-z][a-z-]*)', helptext)))
    shortopts = sorted(set(re.findall(r'(?<![\w-])(-[a-zA-Z])\b', helptext)))
    ok(len(longopts) >= 15, 'found %d long options in vbusctl --help' % len(longopts),
       [' '.join(longopts)])

    man8 = texts.get('vbusctl.8', '')
    sec = sections(man8)
    commands = sec.get('COMMANDS', '')
    documented = set(re.findall(r'^ {7}([a-z][a-z-]*)\b', commands, re.M))
    for v in verbs:
        ok(v in documented, 'vbusctl(8) COMMANDS documents the verb %s' % v)
    for v in sorted(documented - set(verbs)):
        ok(False, 'vbusctl(8) documents a verb %s that vbusctl --help does not have' % v)
    for o in longopts + shortopts:
        ok(word_re(o).search(man8) is not None, 'vbusctl(8) mentions %s' % o)
    # Each verb's options, as --help shows them on its lines, are in the verb's entry.
    entries = {}
    cur = None
    for line in commands.splitlines():
        m = re.match(r'^ {7}([a-z][a-z-]*)\b', line)
        if m:
            cur = m.group(1)
        if cur:
            entries[cur] = entries.get(cur, '') + line + '\n'
    cur = None
    for line in cmds.splitlines():
        m = re.match(r'^  ([a-z][a-z-]*)\b', line)
        if m:
            cur = m.group(1)
        if not cur:
            continue
        usage = line.split('  ', 2)[1] if m else line
        for o in re.findall(r'(?<![\w-])(--[a-z][a-z-]*)', usage):
            ok(word_re(o).search(entries.get(cur, '')) is not None,
               'vbusctl(8) documents %s under %s' % (o, cur))
    m = re.search(r'Kinds: ([^.]*)\.', helptext)
    helpkinds = re.findall(r'[a-z]+', m.group(1)) if m else []
    ok(len(helpkinds) >= 6, 'vbusctl --help names %d kinds' % len(helpkinds))
    for kind in helpkinds:
        ok(re.search(r'^ {7}' + kind + r'$', sec.get('KINDS', ''), re.M) is not None,
           'vbusctl(8) KINDS describes %s' % kind)
    m = re.search(r'Drivers: ([^.]*)\.', helptext)
    for drv in re.findall(r'\b(?!or\b|a\b|driver\b|name\b)[a-z]+', m.group(1) if m else ''):
        ok(word_re(drv).search(sec.get('DRIVERS', '')) is not None,
           'vbusctl(8) DRIVERS describes %s' % drv)
    for kind in helpkinds or ['mdev', 'vf', 'sf', 'vdpa', 'virtbus', 'pci']:
        ok(re.search(r'--kind ' + kind + r'\b', sec.get('EXAMPLES', '')) is not None,
           'vbusctl(8) EXAMPLES has an example for the kind %s' % kind)
    for s in ['OPTIONS', 'COMMANDS', 'KINDS', 'DRIVERS', 'EXIT STATUS', 'ENVIRONMENT', 'EXAMPLES']:
        ok(s in sec, 'vbusctl(8) has a section %s' % s)

    # 3. vbusd: every option of --help is in vbusd(8).
    dhelp = subprocess.run([vbusd, '--help'], capture_output=True, text=True,
                           check=True).stdout
    dopts = sorted(set(re.findall(r'(?<![\w-])(--[a-z][a-z-]*)', dhelp)))
    ok(len(dopts) >= 4, 'found %d options in vbusd --help' % len(dopts), [' '.join(dopts)])
    for o in dopts:
        ok(word_re(o).search(texts.get('vbusd.8', '')) is not None, 'vbusd(8) mentions %s' % o)

    # 3b. vbus-dra: every option of --help is in vbus-dra(8).
    if vbus_dra:
        rhelp = subprocess.run([vbus_dra, '--help'], capture_output=True, text=True,
                               check=True).stdout
        ropts = sorted(set(re.findall(r'(?<![\w-])(--[a-z][a-z-]*)', rhelp)))
        ok(len(ropts) >= 9, 'found %d options in vbus-dra --help' % len(ropts), [' '.join(ropts)])
        for o in ropts:
            ok(word_re(o).search(texts.get('vbus-dra.8', '')) is not None,
               'vbus-dra(8) mentions %s' % o)

    # 4. D-Bus: every interface, method (with its signature), signal and property of the
    #    introspection XML is in org.vbus1(5), and every error name of the errno table.
    page = texts.get('org.vbus1.5', '')
    flat = squash(page)
    xmls = sorted(f for f in os.listdir(daemon_src) if re.match(r'org\.vbus1\..*\.xml$', f))
    ok(len(xmls) >= 3, 'found %d introspection files in daemon/' % len(xmls))
    for x in xmls:
        root = ET.parse(os.path.join(daemon_src, x)).getroot()
        for iface in root.iter('interface'):
            iname = iface.get('name')
            ok(word_re('interface ' + iname).search(flat) is not None,
               'org.vbus1(5) has a synopsis of %s' % iname)
            for meth in iface.iter('method'):
                args = ', '.join('%s %s %s' % ('in ' if a.get('direction', 'in') == 'in'
                                               else 'out', a.get('type'), a.get('name'))
                                 for a in meth.iter('arg'))
                sig = squash('%s(%s);' % (meth.get('name'), args))
                ok(sig in flat, 'org.vbus1(5): method %s.%s' % (iname, sig))
                ok(flat.count(meth.get('name') + '(') >= 2,
                   'org.vbus1(5) describes the method %s' % meth.get('name'))
            for s in iface.iter('signal'):
                args = ', '.join('%s %s' % (a.get('type'), a.get('name'))
                                 for a in s.iter('arg'))
                sig = '%s(%s);' % (s.get('name'), args)
                ok(sig in flat, 'org.vbus1(5): signal %s.%s' % (iname, sig))
                ok(flat.count(s.get('name') + '(') >= 2,
                   'org.vbus1(5) describes the signal %s' % s.get('name'))
            for p in iface.iter('property'):
                decl = 'readonly %s %s' % (p.get('type'), p.get('name'))
                ok(decl in flat, 'org.vbus1(5): property %s.%s' % (iname, decl))
                ok(len(word_re(p.get('name')).findall(flat)) >= 2,
                   'org.vbus1(5) describes the property %s' % p.get('name'))
    with open(os.path.join(daemon_src, '..', 'shared', 'bus-util.c')) as f:
        errors = sorted(set(re.findall(r'"(org\.vbus1\.Error\.\w+)"', f.read())))
    ok(len(errors) >= 10, 'found %d error names in shared/bus-util.c' % len(errors))
    for e in errors:
        ok(e in flat, 'org.vbus1(5) lists the error %s' % e)
    ok('busctl call' in flat, 'org.vbus1(5) has busctl examples')

    # 5. vbus(4): every genl command and attribute of the uapi header, and vbus_sim's files.
    uapi = os.path.join(daemon_src, '..', 'kmod', 'uapi', 'linux', 'vbus.h')
    with open(uapi) as f:
        consts = re.findall(r'^\s*(VBUS_(?:CMD|ATTR|TYPE_ATTR)_[A-Z_]+),', f.read(), re.M)
    consts = [c for c in consts if not c.endswith('_UNSPEC')]
    ok(len(consts) >= 15, 'found %d commands and attributes in linux/vbus.h' % len(consts))
    page4 = texts.get('vbus.4', '')
    for c in consts:
        ok(word_re(c).search(page4) is not None, 'vbus(4) documents %s' % c)
    with open(os.path.join(daemon_src, '..', 'kmod', 'vbus_sim_main.c')) as f:
        sim = f.read()
    knobs = re.findall(r'debugfs_create_u32\("(\w+)"', sim)
    knobs += re.findall(r'static BUS_ATTR_\w+\((\w+)\)', sim)
    # The sysfs attributes of virtbus devices and of vbus_sim's SF devices.
    for f in ['vbus_main.c', 'vbus_sim_devlink.c']:
        with open(os.path.join(daemon_src, '..', 'kmod', f)) as fh:
            knobs += re.findall(r'static DEVICE_ATTR_\w+\((\w+)\)', fh.read())
    ok(len(knobs) >= 9, 'found %d sysfs and debugfs files in kmod/' % len(knobs))
    for k in knobs:
        ok(word_re(k).search(page4) is not None, 'vbus(4) documents the file %s' % k)

    print('1..%d' % n)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
