"""The local stack: real servers on loopback for tests, demos and the ``gcloud`` CLI.

Firestore and Pub/Sub (the Google Cloud CLI's emulators), Cloud Storage
(fake-gcs-server), MongoDB (SecantusDB), stand-ins for control-plane APIs
without an emulator (``standins``), and Cloud Functions served by
functions-framework behind Pub/Sub push subscriptions. :mod:`.stack` composes
them; ``python -m tests.devstack`` runs one for people. Nothing is imported
here, so ``python3 -m tests.devstack env`` stays standard-library only.
"""
