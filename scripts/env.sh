# Source this file (bash or zsh): activates the venv and the workspace overlay.
#   source scripts/env.sh
# Afterwards `python -c "import rclpy, lerobot_ros_msgs.msg"` works and `lerobot-ros` is on PATH.

if [ -n "${BASH_SOURCE:-}" ]; then
  _lerobot_ros_ws="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
else
  _lerobot_ros_ws="$(cd "$(dirname "${(%):-%x}")/.." && pwd)"
fi

if [ ! -f "$_lerobot_ros_ws/install/local_setup.sh" ] || [ ! -x "$_lerobot_ros_ws/.venv/bin/python" ]; then
  echo "lerobot-ros: not set up yet; run scripts/setup.sh first" >&2
else
  . "$_lerobot_ros_ws/.venv/bin/activate"
  # The venv is the ROS underlay: the ros-* wheels install their share/ and lib/ into it.
  case ":${AMENT_PREFIX_PATH:-}:" in *":$VIRTUAL_ENV:"*) ;; *)
    export AMENT_PREFIX_PATH="$VIRTUAL_ENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}" ;;
  esac
  case ":${CMAKE_PREFIX_PATH:-}:" in *":$VIRTUAL_ENV:"*) ;; *)
    export CMAKE_PREFIX_PATH="$VIRTUAL_ENV${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}" ;;
  esac
  export RMW_IMPLEMENTATION="${RMW_IMPLEMENTATION:-rmw_fastrtps_cpp}"
  # Large shared-memory segments, so camera images cross processes without loss (see the file).
  export FASTDDS_DEFAULT_PROFILES_FILE="${FASTDDS_DEFAULT_PROFILES_FILE:-$_lerobot_ros_ws/src/lerobot_ros_bringup/config/fastdds.xml}"
  COLCON_CURRENT_PREFIX="$_lerobot_ros_ws/install" . "$_lerobot_ros_ws/install/local_setup.sh"
  export LEROBOT_ROS_WS="$_lerobot_ros_ws"
fi
unset _lerobot_ros_ws
