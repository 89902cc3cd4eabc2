package dev.changepipe.service;

import java.util.List;

/** The connector-specific HTTP endpoints of the service. */
final class Routes {

    private Routes() {
    }

    static List<AdminServer.Route> all(ReplicationService service) {
        return List.of();
    }
}
