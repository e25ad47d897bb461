#!/bin/bash
# bash completion of vbusctl: the candidates a user gets at TAB, for lines typed against a copy
# of the fake host tests/data/host-mixed (two definitions, mdev and VF parents).
#   test-completion.sh VBUSCTL COMPLETION_FILE TEST_DATA_DIR   (TAP output)
set -u

vbusctl=$1
completion=$2
data=$3

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -a "$data/host-mixed" "$tmp/root"
root=$tmp/root
# vbusctl as the user runs it: by name, from PATH.
mkdir "$tmp/bin"
ln -s "$(readlink -f "$vbusctl")" "$tmp/bin/vbusctl"
PATH=$tmp/bin:$PATH

# As an interactive shell has it: bash-completion's helpers, then our file.
# shellcheck disable=SC1091
. /usr/share/bash-completion/bash_completion
# shellcheck disable=SC1090
. "$completion"

n=0
failed=0

# complete LINE: the sorted candidates bash offers with the cursor at the end of LINE. The words
# are split as readline splits them: at blanks, and at the COMP_WORDBREAKS ':' and '=', which
# become words of their own.
complete_line()
{
	local line=$1 w rest
	local -a words=()
	read -r -a parts <<<"$line"
	[[ $line == *' ' ]] && parts+=("")
	for w in "${parts[@]}"; do
		if [[ -z $w ]]; then
			words+=("")
			continue
		fi
		while [[ -n $w ]]; do
			rest=${w%%[:=]*}
			[[ -n $rest ]] && words+=("$rest")
			w=${w:${#rest}}
			if [[ -n $w ]]; then
				words+=("${w:0:1}")
				w=${w:1}
			fi
		done
	done
	COMP_LINE=$line
	COMP_POINT=${#line}
	COMP_WORDS=("${words[@]}")
	COMP_CWORD=$((${#words[@]} - 1))
	COMP_TYPE=9
	COMPREPLY=()
	_vbusctl vbusctl "${words[COMP_CWORD]}" "${words[COMP_CWORD - 1]}"
	# Readline replaces only the text after the last word break: show the whole word it makes.
	local last=${line##* } prefix=""
	[[ $last == *[:=]* ]] && prefix=${last%"${last##*[:=]}"}
	((${#COMPREPLY[@]})) || return 0
	printf '%s\n' "${COMPREPLY[@]/#/$prefix}" | sort | tr '\n' ' ' | sed 's/ $//'
}

# expect LINE WANTED: the candidates are exactly WANTED (space-separated, sorted).
expect()
{
	local got want
	got=$(complete_line "$1")
	want=$(printf '%s\n' $2 | sort | tr '\n' ' ' | sed 's/ $//')
	n=$((n + 1))
	if [[ $got == "$want" ]]; then
		echo "ok $n - '$1' completes to: $want"
	else
		echo "not ok $n - '$1'"
		echo "#   want: $want"
		echo "#    got: $got"
		failed=$((failed + 1))
	fi
}

R="--root $root"

expect "vbusctl " \
	"parents types list define modify undefine start stop create remove assign apply config import monitor cdi help"
expect "vbusctl st" "start stop"
expect "vbusctl $R re" "remove"
expect "vbusctl --" "--json --root --direct --help --version"
expect "vbusctl list --" "--json --root --direct --help --version --defined --all"
expect "vbusctl apply x --d" "--direct --dry-run"
expect "vbusctl apply x --n" "--now"
expect "vbusctl create n --tr" "--transient"
expect "vbusctl start --t" ""
expect "vbusctl define x --kind " "mdev vf sf vdpa virtbus pci"
expect "vbusctl define x --kind v" "vf vdpa virtbus"
expect "vbusctl define x --for " "vm host"
expect "vbusctl import " "mdevctl driverctl"
expect "vbusctl monitor " ""
expect "vbusctl cdi " "list"
expect "vbusctl help st" "start stop"
expect "vbusctl help list " ""
expect "vbusctl -" "-j --json --root --direct -h --help -V --version"

# Defined names, from vbusctl -j list --defined under the root on the line (broken.json is
# warned about on stderr, which must not leak into the candidates).
expect "vbusctl $R start " "gpu-desktop nic-vf1"
expect "vbusctl $R remove g" "gpu-desktop"
expect "vbusctl --root=$root undefine " "gpu-desktop nic-vf1"
expect "vbusctl start $R " "gpu-desktop nic-vf1"
expect "vbusctl $R start gpu-desktop " ""
# list and assign also offer active devices that are not defined.
expect "vbusctl $R list " "gpu-desktop nic-vf1 0000:03:00.0-vf0 0000:04:00.0"
expect "vbusctl $R assign nic" "nic-vf1"
# Parents, from vbusctl -j parents; PCI addresses stay whole although ':' breaks words.
expect "vbusctl $R parents " "0000:00:02.0 mtty 0000:03:00.0"
expect "vbusctl $R define x --parent " "0000:00:02.0 mtty 0000:03:00.0"
expect "vbusctl $R define x --kind vf --parent " "0000:03:00.0"
expect "vbusctl $R define x --kind mdev --parent 0000:0" "0000:00:02.0"
expect "vbusctl $R types 0000:00:0" "0000:00:02.0"
# Types of the parent on the line.
expect "vbusctl $R define x --kind mdev --parent mtty --type " "mtty-1 mtty-2"
expect "vbusctl $R create x --parent 0000:00:02.0 --type i915-GVTg_V5_" \
	"i915-GVTg_V5_4 i915-GVTg_V5_8"
# Drivers: the keywords and the drivers the tree has.
expect "vbusctl $R assign gpu-desktop v" "vfio vfio-pci"
expect "vbusctl $R define x --driver i" "i915 iavf ice intel_vgpu_mdev"
expect "vbusctl $R define x --kind sf --attr " "hw_addr="
expect "vbusctl $R define x --kind vf --attr m" "mac= max_tx_rate= min_tx_rate="
expect "vbusctl $R config " "apply list"
mkdir -p "$root/etc/vbus/configs.d" && echo '[]' >"$root/etc/vbus/configs.d/t4-1b.json"
expect "vbusctl $R config apply " "t4-1b"
# Without --root, vbusctl asks vbusd; --root names another tree: nothing from this one.
expect "vbusctl --root $tmp/bin start " ""

# The verbs offered are the verbs of vbusctl --help.
helpverbs=$(vbusctl --help | sed -n '/^Commands:/,/^$/p' | sed -n 's/^  \([a-z][a-z-]*\).*/\1/p' |
	sort -u | tr '\n' ' ')
expect "vbusctl " "$helpverbs"

# Each verb is offered exactly the options vbusctl accepts for it (so the completion cannot
# drift from vbusctl's verb table): every long option of --help is tried on every verb, in a
# scratch root of its own, and refused ones ("VERB does not take --OPT") must not be offered.
probe=$tmp/probe
cp -a "$data/host-mixed" "$probe"
declare -A value=([--kind]=mdev [--parent]=mtty [--type]=mtty-1 [--uuid]=11111111-2222-4333-8444-555555555555
	[--index]=1 [--driver]=auto [--attr]=a=b [--tag]=t [--jsonfile]=/nonexistent [--for]=vm
	[--select]=vendor=10de [--count]=2)
opts=$(vbusctl --help | grep -o -- '--[a-z][a-z-]*' | sort -u |
	grep -vx -e --root -e --direct -e --json -e --help -e --version)
for verb in $(complete_line "vbusctl "); do
	# As many placeholder arguments as the verb needs.
	for nargs in 0 1 2; do
		a=(mdevctl x y)
		a=("${a[@]:0:nargs}")
		[[ $verb != import ]] && a=("${a[@]/mdevctl/p1}")
		e=$(vbusctl --root "$probe" "$verb" "${a[@]}" 2>&1 >/dev/null)
		[[ $e != *"argument"* ]] && break
	done
	accepted=""
	for o in $opts; do
		e=$(vbusctl --root "$probe" "$verb" "${a[@]}" "$o" ${value[$o]:+"${value[$o]}"} \
			2>&1 >/dev/null </dev/null)
		[[ $e != *"does not take $o"* ]] && accepted+=" $o"
	done
	offered=$(complete_line "vbusctl $verb ${a[*]} --" | tr ' ' '\n' |
		grep -vx -e --root -e --direct -e --json -e --help -e --version | sort | tr '\n' ' ')
	want=$(printf '%s\n' $accepted | sort | tr '\n' ' ')
	n=$((n + 1))
	if [[ ${offered% } == "${want% }" ]]; then
		echo "ok $n - $verb: the options offered are the ones vbusctl takes:${accepted:- none}"
	else
		echo "not ok $n - $verb: options offered differ from those vbusctl takes"
		echo "#   vbusctl takes: $want"
		echo "#         offered: $offered"
		failed=$((failed + 1))
	fi
done

echo "1..$n"
[[ $failed -eq 0 ]]
