import { echoConformance } from "./echo_conformance.ts";
import { startEcho as blocking } from "../../examples/echo_blocking.ts";
import { startEcho as nonblocking } from "../../examples/echo_nonblocking.ts";

echoConformance("blocking", blocking);
echoConformance("nonblocking", nonblocking);
import { startEcho as iocp } from "../../examples/echo_iocp.ts";
echoConformance("iocp", iocp);
import { startEcho as engine } from "../../examples/echo_engine.ts";
echoConformance("engine", engine);
import { startEcho as eventSelect } from "../../examples/echo_event_select.ts";
import { startEcho as asyncSelect } from "../../examples/echo_async_select.ts";
echoConformance("event-select", eventSelect);
echoConformance("async-select", asyncSelect);
