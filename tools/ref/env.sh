# env.sh -- what the reference scripts need, checked the same way everywhere (sourced):
#   ref_need_node     node-llama-cpp under $NODE_PATH, else exit with the setup command
#   ref_find_python   PY = $PYTHON, else the first python3 with numpy, else exit
ref_need_node() {
    [ -d "$NODE_PATH/node-llama-cpp" ] || {
        echo "node-llama-cpp not under NODE_PATH=$NODE_PATH: run bash ${LMZ_SHARED:-../shared}/reference/setup.sh /tmp/llamacpp-ref-npm" >&2
        exit 1
    }
}

ref_find_python() {
    PY=${PYTHON:-}
    if [ -z "$PY" ]; then
        for c in python3 /usr/bin/python3; do
            if "$c" -c 'import numpy' 2>/dev/null; then PY=$c; break; fi
        done
    fi
    [ -n "$PY" ] || { echo "no python3 with numpy (apt-get install python3-numpy)" >&2; exit 1; }
}
