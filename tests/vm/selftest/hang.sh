#!/bin/bash
# Harness self-test, guest side: hangs; the guest-side script timeout must kill it.
echo "hanging"
sleep 1000
