"""Follower arm driver: a joint_trajectory_controller-like node on a Feetech bus.

Publishes `joint_states` (radians, stamped at bus-read time), `controller_state`, `motor_states`,
`robot_description` (latched) and diagnostics; executes `joint_trajectory` (topic) and
`follow_joint_trajectory` (action) with splice semantics, and streams `joint_commands` (the
low-latency teleop path). Services: `set_torque`, `move_to_rest`. Safety (limits, max step per
tick, watchdog) lives in `arm.controller`; this node moves messages and owns the bus thread.

Threads: one control thread does all bus I/O (write the command, read the state, publish); ROS
callbacks only change the controller under a lock and wake the control thread, so a streamed
command reaches the bus without waiting for the next tick.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

import numpy as np
from control_msgs.action import FollowJointTrajectory, ParallelGripperCommand
from control_msgs.msg import JointTrajectoryControllerState
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import String
from std_srvs.srv import SetBool, Trigger
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from lerobot_ros_core.description import joint_limits
from lerobot_ros_core.node.companion import CompanionNode
from lerobot_ros_core.node.diagnostics import ERROR, OK, WARN, DiagnosticsReporter
from lerobot_ros_core.node.node_main import run_node
from lerobot_ros_core.node.params import declare_parameters, param
from lerobot_ros_core.node.qos import COMMAND_QOS, LATCHED_QOS, SENSOR_QOS
from lerobot_ros_core.node.stamps import to_seconds
from lerobot_ros_drivers.arm.bus_session import ArmBusConfig, BusSession
from lerobot_ros_drivers.arm.controller import ArmController, ControllerConfig, ControlOutput, VelocityEstimator
from lerobot_ros_drivers.arm.interpolation import JointSample
from lerobot_ros_drivers.arm.tolerances import GoalState, GoalStatus, JointTolerance
from lerobot_ros_drivers.arm.trajectory import (
    INVALID_GOAL,
    SUCCESSFUL,
    PointCommand,
    TrajectoryCommand,
    TrajectoryError,
)
from lerobot_ros_drivers.calibration.files import FOLLOWER_NAMES
from lerobot_ros_drivers.description import urdf_text
from lerobot_ros_drivers.feetech.arm_bus import SO_ARM_JOINTS
from lerobot_ros_msgs.msg import MotorStates


@dataclass
class FollowerConfig(ArmBusConfig):
    robot: str = param("so101", "robot description (joint limits, robot_description)", choices=("so101", "so100"))
    rate: float = param(200.0, "control loop / joint_states rate (Hz)", min=1.0, max=1000.0)
    max_step: float = param(0.1, "max change of a joint target per control tick (rad), like max_relative_target")
    command_timeout: float = param(0.5, "joint_commands watchdog: hold when no command for this long (s)", min=0.01)
    goal_position_tolerance: float = param(0.05, "default goal position tolerance (rad; <= 0: not checked)")
    path_position_tolerance: float = param(0.0, "default path position tolerance (rad; <= 0: not checked)")
    goal_time_tolerance: float = param(1.0, "default time allowed past the trajectory end to reach the goal (s)")
    allow_partial_joints_goal: bool = param(False, "accept trajectories naming only some joints")
    rest_pose: list[float] = param([0.0, -1.6, 1.5, 0.7, 0.0, 0.0], "move_to_rest target, joint order (rad)")
    rest_duration: float = param(3.0, "duration of the move_to_rest trajectory (s)", min=0.1)
    torque_on_start: bool = param(True, "enable torque (holding the present pose) when connected")
    on_shutdown: str = param("torque_off", "what the arm does when the node stops", choices=("torque_off", "hold"))
    telemetry_period: float = param(1.0, "seconds between motor telemetry reads (motor_states)", min=0.05)
    controller_state_rate: float = param(50.0, "controller_state publishing rate (Hz)", min=1.0, max=1000.0)
    publish_robot_description: bool = param(True, "publish the URDF latched on robot_description")


@dataclass
class _ActionGoal:
    """Token the controller tracks for one action goal; the control thread fills `status`."""

    done: threading.Event
    status: GoalStatus | None = None


class FollowerNode(Node):
    def __init__(self) -> None:
        super().__init__("follower")
        self.config = cfg = declare_parameters(self, FollowerConfig)
        self.joint_names = list(SO_ARM_JOINTS)
        calibration_path, self.session = BusSession.open(cfg, "robots", FOLLOWER_NAMES, self.joint_names)
        self.bus = self.session.bus
        self.urdf = urdf_text(cfg.robot)
        urdf_limits = joint_limits(self.urdf)
        lower = np.maximum(self.bus.codec.lower_limits_rad, [urdf_limits[j][0] for j in self.joint_names])
        upper = np.minimum(self.bus.codec.upper_limits_rad, [urdf_limits[j][1] for j in self.joint_names])
        if len(cfg.rest_pose) != len(self.joint_names):
            raise ValueError(f"rest_pose has {len(cfg.rest_pose)} values for joints {self.joint_names}")
        self.controller_config = ControllerConfig(
            joint_names=tuple(self.joint_names),
            lower_limits=lower,
            upper_limits=upper,
            max_step=cfg.max_step,
            command_timeout=cfg.command_timeout,
            path_tolerance=JointTolerance(position=cfg.path_position_tolerance),
            goal_tolerance=JointTolerance(position=cfg.goal_position_tolerance),
            goal_time_tolerance=cfg.goal_time_tolerance,
            allow_partial_joints_goal=cfg.allow_partial_joints_goal,
        )
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.running = True
        self.controller: ArmController | None = None
        self.measured: np.ndarray | None = None
        self.torque_enabled = False
        self.torque_wanted = cfg.torque_on_start
        self.fresh_link = False
        self.last_output: ControlOutput | None = None
        self.velocity = VelocityEstimator()
        self.rejected = 0
        self.last_rejection = ""
        self.loop_rate = 0.0
        self.telemetry = None

        self.diagnostics = DiagnosticsReporter(self, hardware_id=cfg.port)
        self.state_pub = self.create_publisher(JointState, "joint_states", SENSOR_QOS)
        self.controller_state_pub = self.create_publisher(JointTrajectoryControllerState, "controller_state", 10)
        self.motor_pub = self.create_publisher(MotorStates, "motor_states", 10)
        if cfg.publish_robot_description:
            self.description_pub = self.create_publisher(String, "robot_description", LATCHED_QOS)
            self.description_pub.publish(String(data=self.urdf))
        # Command topics (up to one message per control tick) on a companion node with its own
        # thread: the multi-threaded executor this node needs for its actions costs 3x per message.
        self.commands = CompanionNode(self, "commands")
        self.commands.node.create_subscription(JointTrajectory, "joint_trajectory", self._on_trajectory, COMMAND_QOS)
        self.commands.node.create_subscription(JointState, "joint_commands", self._on_joint_commands, COMMAND_QOS)
        self.commands.start()
        services = MutuallyExclusiveCallbackGroup()
        self.create_service(SetBool, "set_torque", self._on_set_torque, callback_group=services)
        self.create_service(Trigger, "move_to_rest", self._on_move_to_rest, callback_group=services)
        actions = ReentrantCallbackGroup()
        self.action_server = ActionServer(
            self,
            FollowJointTrajectory,
            "follow_joint_trajectory",
            execute_callback=self._execute_trajectory,
            goal_callback=lambda _goal: GoalResponse.ACCEPT,
            cancel_callback=lambda _goal: CancelResponse.ACCEPT,
            callback_group=actions,
        )
        self.gripper_server = ActionServer(
            self,
            ParallelGripperCommand,
            "gripper_command",
            execute_callback=self._execute_gripper,
            goal_callback=lambda _goal: GoalResponse.ACCEPT,
            cancel_callback=lambda _goal: CancelResponse.ACCEPT,
            callback_group=actions,
        )
        self.get_logger().info(
            f"calibration {calibration_path}; joint limits {np.round(lower, 3)} .. {np.round(upper, 3)}"
        )
        self.control_thread = threading.Thread(target=self._control_loop, name="follower control", daemon=True)
        self.control_thread.start()

    def now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    # --- bus lifecycle (control thread) ---------------------------------------------------------

    def _on_connected(self) -> None:
        """Fresh link: the next read sets the hold position; torque back on if it was wanted."""
        self.fresh_link = True
        self.torque_enabled = False
        if self.torque_wanted and self.session.do(lambda bus: bus.set_torque(True)):
            self.torque_enabled = True
        self.get_logger().info(f"connected to {self.bus.port} (torque {'on' if self.torque_enabled else 'off'})")

    def _on_lost(self) -> None:
        error = self.session.counters.last_error
        self.get_logger().error(f"{error}; holding, reconnecting every {self.config.reconnect_period:.1f} s")
        with self.lock:
            if self.controller is not None and self.measured is not None:
                self._finish(self.controller.reset(self.measured, self.now()), f"bus lost: {error}")

    def _control_loop(self) -> None:
        period = 1.0 / self.config.rate
        next_telemetry = next_state = 0.0
        ticks, window_start = 0, time.monotonic()
        while self.running and self.context.ok():  # a shut-down context cannot publish
            if not self.session.connected:
                due = self.session.reconnect_due()
                if self.session.retry(self.get_logger().warn):
                    self._on_connected()
                if due:
                    self._report()
                time.sleep(min(period, 0.05))
                continue
            tick_start = time.monotonic()
            self._tick()
            if not self.session.connected:
                self._on_lost()
                self._report()
                continue
            if tick_start >= next_telemetry:
                next_telemetry = tick_start + self.config.telemetry_period
                self._publish_motor_states()
                self._report()
            if tick_start >= next_state:
                next_state = tick_start + 1.0 / self.config.controller_state_rate
                self._publish_controller_state()
            ticks += 1
            if tick_start - window_start >= 1.0:
                self.loop_rate = ticks / (tick_start - window_start)
                ticks, window_start = 0, tick_start
            remaining = period - (time.monotonic() - tick_start)
            if remaining > 0:
                self.wake.wait(remaining)
            self.wake.clear()

    def _tick(self) -> None:
        """Write the command computed from the latest measurement, then read and publish the state."""
        output = None
        with self.lock:
            if self.controller is not None and self.measured is not None and not self.fresh_link:
                output = self.controller.update(self.now(), self.measured)
                self.last_output = output
                if output.finished_goal is not None:
                    self._finish(*output.finished_goal)
                if output.event:
                    self.get_logger().warn(output.event)
        if (
            output is not None
            and self.torque_enabled
            and not self.session.do(lambda bus: bus.write_positions(output.command))
        ):
            return
        stamp = self.get_clock().now()
        measured = self.session.read(lambda bus: bus.read_positions())
        if measured is None:
            return
        with self.lock:
            self.measured = measured
            if self.controller is None:
                self.controller = ArmController(self.controller_config, measured, self.now())
            elif self.fresh_link or not self.torque_enabled:
                # New link, or a limp arm: the setpoint is where the arm is, so torque-on holds there.
                self._finish(self.controller.reset(measured, self.now()), "bus reconnected: goal dropped")
            self.fresh_link = False
        velocities = self.velocity.update(stamp.nanoseconds * 1e-9, measured)
        msg = JointState()
        msg.header.stamp = stamp.to_msg()
        msg.name = self.joint_names
        msg.position = measured.tolist()
        msg.velocity = velocities.tolist()
        self.state_pub.publish(msg)

    def _finish(self, token: object, status: GoalStatus | str | None) -> None:
        """Complete an action goal the controller finished, preempted or dropped."""
        if not isinstance(token, _ActionGoal):
            return
        if isinstance(status, str):
            status = GoalStatus(GoalState.ABORTED, INVALID_GOAL, status)
        token.status = status
        token.done.set()

    # --- commands (executor threads) ------------------------------------------------------------

    def _reject(self, source: str, error: Exception) -> None:
        self.rejected += 1
        self.last_rejection = f"{source}: {error}"
        self.get_logger().error(f"rejected {source}: {error}")

    def _submit(self, command: TrajectoryCommand, token: object = None, tolerances=None) -> None:
        with self.lock:
            if self.controller is None:
                raise TrajectoryError(f"arm not connected ({self.session.counters.last_error or 'connecting'})")
            if not self.torque_enabled:
                raise TrajectoryError("torque is off: call set_torque(true) first")
            preempted = self.controller.submit_trajectory(command, self.now(), token, tolerances)
            self._finish(preempted, "preempted by a newer trajectory")
        self.wake.set()

    def _on_trajectory(self, msg: JointTrajectory) -> None:
        try:
            self._submit(trajectory_command(msg))
        except TrajectoryError as error:
            self._reject("joint_trajectory", error)

    def _on_joint_commands(self, msg: JointState) -> None:
        try:
            with self.lock:
                if self.controller is None:
                    raise TrajectoryError("arm not connected")
                if not self.torque_enabled:
                    raise TrajectoryError("torque is off")
                if len(msg.position) != len(msg.name):
                    raise TrajectoryError(f"{len(msg.name)} joint names but {len(msg.position)} positions")
                preempted = self.controller.submit_positions(list(msg.name), list(msg.position), self.now())
                self._finish(preempted, "preempted by joint_commands")
        except TrajectoryError as error:
            self._reject("joint_commands", error)
            return
        self.wake.set()

    def _execute_trajectory(self, goal_handle) -> FollowJointTrajectory.Result:
        request: FollowJointTrajectory.Goal = goal_handle.request
        token = _ActionGoal(threading.Event())
        result = FollowJointTrajectory.Result()
        try:
            command = trajectory_command(request.trajectory)
            with self.lock:
                controller = self.controller
            if controller is None:
                raise TrajectoryError("arm not connected")
            tolerances = controller.default_tolerances.override(
                self.joint_names,
                {t.name: (t.position, t.velocity) for t in request.path_tolerance},
                {t.name: (t.position, t.velocity) for t in request.goal_tolerance},
                to_seconds(request.goal_time_tolerance),
            )
            self._submit(command, token, tolerances)
        except TrajectoryError as error:
            self._reject("follow_joint_trajectory goal", error)
            result.error_code, result.error_string = error.code, str(error)
            goal_handle.abort()
            return result
        feedback = FollowJointTrajectory.Feedback()
        feedback.joint_names = self.joint_names
        while not token.done.wait(0.05):
            if goal_handle.is_cancel_requested:
                with self.lock:
                    self.controller.cancel(token, self.now())
                result.error_code, result.error_string = SUCCESSFUL, "cancelled: holding"
                goal_handle.canceled()
                return result
            output = self.last_output
            if output is not None:
                feedback.header.stamp = self.get_clock().now().to_msg()
                feedback.desired = point(output.desired)
                feedback.actual = point(output.actual)
                feedback.error = point(error_sample(output.desired, output.actual))
                goal_handle.publish_feedback(feedback)
        status = token.status
        result.error_code, result.error_string = status.code, status.message
        if status.state is GoalState.SUCCEEDED:
            goal_handle.succeed()
        else:
            goal_handle.abort()
        return result

    def _execute_gripper(self, goal_handle) -> ParallelGripperCommand.Result:
        """Gripper goal as a one-point partial trajectory of the gripper joint (velocity sets its duration)."""
        command: JointState = goal_handle.request.command
        result = ParallelGripperCommand.Result()
        if list(command.name) not in ([], ["gripper"]) or len(command.position) != 1:
            self.get_logger().error(f"gripper_command needs one position for joint 'gripper', got {list(command.name)}")
            goal_handle.abort()
            return result
        target = float(command.position[0])
        speed = float(command.velocity[0]) if len(command.velocity) == 1 and command.velocity[0] > 0 else 1.0
        gripper = self.joint_names.index("gripper")
        token = _ActionGoal(threading.Event())
        try:
            with self.lock:
                if self.controller is None or self.measured is None:
                    raise TrajectoryError("arm not connected")
                # The other joints hold their current setpoint: a gripper goal stops arm motion in progress.
                positions = self.controller.timeline.sample(self.now()).positions.copy()
                current = self.measured[gripper]
            duration = max(abs(target - current) / speed, 0.05) if math.isfinite(target) else 0.05
            positions[gripper] = target
            self._submit(TrajectoryCommand(self.joint_names, [PointCommand(duration, positions.tolist())]), token)
        except TrajectoryError as error:
            self._reject("gripper_command goal", error)
            goal_handle.abort()
            return result
        while not token.done.wait(0.05):
            if goal_handle.is_cancel_requested:
                with self.lock:
                    self.controller.cancel(token, self.now())
                goal_handle.canceled()
                return result
        state = JointState(name=["gripper"])
        with self.lock:
            if self.measured is not None:
                state.position = [float(self.measured[self.joint_names.index("gripper")])]
        result.state = state
        result.reached_goal = token.status.state is GoalState.SUCCEEDED
        result.stalled = not result.reached_goal
        if result.reached_goal:
            goal_handle.succeed()
        else:
            goal_handle.abort()
        return result

    def _on_set_torque(self, request: SetBool.Request, response: SetBool.Response) -> SetBool.Response:
        ok = self.session.do(lambda bus: bus.set_torque(request.data))
        if ok:
            self.torque_wanted = request.data
            with self.lock:
                if self.controller is not None and self.measured is not None:
                    self._finish(self.controller.reset(self.measured, self.now()), "torque changed: goal dropped")
                self.torque_enabled = request.data
        response.success = ok
        response.message = f"torque {'on' if request.data else 'off'}" if ok else self.session.counters.last_error
        return response

    def _on_move_to_rest(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        point_ = PointCommand(self.config.rest_duration, list(self.config.rest_pose), [0.0] * len(self.joint_names))
        try:
            self._submit(TrajectoryCommand(self.joint_names, [point_]))
        except TrajectoryError as error:
            response.success, response.message = False, str(error)
            return response
        response.success, response.message = True, f"moving to rest pose in {self.config.rest_duration:.1f} s"
        return response

    # --- state outputs ----------------------------------------------------------------------------

    def _publish_controller_state(self) -> None:
        output = self.last_output
        if output is None:
            return
        msg = JointTrajectoryControllerState()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.joint_names = self.joint_names
        msg.reference = point(output.desired)
        msg.feedback = point(output.actual)
        msg.error = point(error_sample(output.desired, output.actual))
        msg.output = JointTrajectoryPoint(positions=output.command.tolist())
        self.controller_state_pub.publish(msg)

    def _publish_motor_states(self) -> None:
        telemetry = self.session.read(lambda bus: bus.read_telemetry())
        raw = self.session.read(lambda bus: bus.read_raw_positions())
        if telemetry is None or raw is None:
            return
        self.telemetry = telemetry
        msg = MotorStates()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.names = self.joint_names
        msg.ids = list(self.bus.ids)
        msg.raw_positions = [int(v) for v in raw]
        msg.velocities = telemetry.velocities_rad_s.astype(float).tolist()
        msg.loads = telemetry.loads_percent.astype(float).tolist()
        msg.voltages = telemetry.voltages_v.astype(float).tolist()
        msg.temperatures = telemetry.temperatures_c.astype(float).tolist()
        msg.torque_enabled = [self.torque_enabled] * len(self.joint_names)
        self.motor_pub.publish(msg)

    def _report(self) -> None:
        counters = self.session.counters
        values = {
            "port": self.bus.port,
            "loop_rate_hz": f"{self.loop_rate:.1f}",
            "bus_errors": counters.errors,
            "reconnects": counters.reconnects,
            "last_bus_error": counters.last_error,
            "rejected_commands": self.rejected,
            "last_rejection": self.last_rejection,
            "torque": "on" if self.torque_enabled else "off",
            "mode": self.controller.mode.value if self.controller is not None else "connecting",
        }
        if self.telemetry is not None:
            values["voltage_min_v"] = f"{np.nanmin(self.telemetry.voltages_v):.1f}"
            values["temperature_max_c"] = f"{np.nanmax(self.telemetry.temperatures_c):.0f}"
        if not self.session.connected:
            level, message = ERROR, f"bus not connected: {counters.last_error or 'connecting'}; reconnecting"
        elif counters.consecutive_errors:
            level, message = WARN, f"bus errors: {counters.last_error}"
        else:
            level, message = OK, "running"
        self.diagnostics.update("arm", level, message, **values)

    def shutdown(self) -> None:
        """Stop the control thread, then leave the arm as `on_shutdown` says."""
        self.commands.stop()
        self.running = False
        self.wake.set()
        self.control_thread.join(timeout=2.0)
        torque_off = self.config.on_shutdown == "torque_off"
        self.session.close(torque_off=torque_off)
        self.get_logger().info(f"stopped: {'torque off' if torque_off else 'holding the last goal'}")


def trajectory_command(msg: JointTrajectory) -> TrajectoryCommand:
    """The core's view of a JointTrajectory message (times in seconds; stamp 0 = on arrival)."""
    return TrajectoryCommand(
        list(msg.joint_names),
        [
            PointCommand(to_seconds(p.time_from_start), list(p.positions), list(p.velocities), list(p.accelerations))
            for p in msg.points
        ],
        to_seconds(msg.header.stamp),
    )


def point(sample: JointSample) -> JointTrajectoryPoint:
    return JointTrajectoryPoint(
        positions=sample.positions.tolist(),
        velocities=sample.velocities.tolist(),
        accelerations=sample.accelerations.tolist(),
    )


def error_sample(desired: JointSample, actual: JointSample) -> JointSample:
    return JointSample(
        desired.positions - actual.positions,
        desired.velocities - actual.velocities,
        desired.accelerations - actual.accelerations,
    )


def main() -> int:
    return run_node(FollowerNode, threads=4)
