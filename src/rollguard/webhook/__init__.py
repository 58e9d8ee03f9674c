"""The admission webhook: AdmissionReview handling, the ASGI app, mutations, certificates and manifests."""
