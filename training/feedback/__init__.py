"""The training side of the learning loop: logged decisions and outcomes → rewards → models.

* :mod:`~training.feedback.join` joins decisions with outcomes under :mod:`modelio.reward`;
* :mod:`~training.feedback.dataset` writes and reads the logged-bandit dataset;
* :mod:`~training.feedback.logged` turns it into the policy data ``train`` and OPE use;
* :mod:`~training.feedback.offpolicy` estimates a candidate version's value on it;
* :mod:`~training.feedback.crossfit` estimates a version trained on it, on all of it;
* :mod:`~training.feedback.conversations` rebuilds the conversation-state history
  (the offline store of ``conversation_state_fv``) from the logs;
* :mod:`~training.feedback.drain` moves Redis stream entries into parquet log parts;
* :mod:`~training.feedback.retention` deletes old day partitions and trims the streams.
"""
