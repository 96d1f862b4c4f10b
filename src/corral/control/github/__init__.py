"""GitHub (or GitHub Enterprise Server) as Corral talks to it: its REST API and OAuth endpoints
(`client`), and the App's signed tokens (`appauth`)."""
