"""Scheduled campaign batches: contacts, calling windows, pacing, lifecycle and reports.

    life = Lifecycle.connect(redis_client, settings)
    cid = life.create({"name": "reminders", "mode": "flow", "app_id": "12345"})
    life.import_contacts(cid, open("contacts.csv", "rb").read())
    life.start(cid)            # the beat-driven tick (dialer.campaign_tick) does the rest

Modules: ``models`` (spec, states), ``schedule`` (windows, cron; pure), ``pacing`` (pure),
``importer``/``contacts`` (rows), ``queue``/``repo``/``budget`` (Redis, Lua in ``lua``),
``lifecycle`` (actions), ``tick``, ``gate`` (the worker's check), ``report``, ``api``, ``cli``.
"""
