package nats

// RouteSettle exposes routeSettle to the external tests.
const RouteSettle = routeSettle
