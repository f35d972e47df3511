"""sipp test phones: the called party behind the sandbox's ``trunk``.

``phone.SipPhone`` runs one (``python3 -m tests.phones.phone --help`` by hand),
``scenarios`` renders the sipp XML in ``templates/``, ``dtmf_pcap`` writes the
RFC 4733 key presses sipp replays, ``sipp_logs`` reads what the phone saw.
"""
