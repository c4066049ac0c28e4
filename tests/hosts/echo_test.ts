import { echoConformance } from "./_echo_conformance.ts";
import { startEcho } from "../../src/apps/echo.ts";
import { HOST_MODELS } from "../../src/hosts/mod.ts";

// Every host runs the echo application and must pass the conformance suite with every framing.
for (const model of HOST_MODELS) echoConformance(model, (options) => startEcho(model, options));
