# The architecture as a test: folders of src/ use only their own floor and those below,
# by #include and by call, with no circle of files (tools/check_layers.py, doc/layout.md);
# the checker first proves on planted violations that it can fail.
cd "$(dirname "$0")/.."
python3 tools/check_layers.py --self-test
python3 tools/check_layers.py "${BUILD:?}"
