//! diesel table definitions, shared by both backends (see `migrations/`).

diesel::table! {
    models (id) {
        id -> BigInt,
        name -> Text,
        description -> Nullable<Text>,
        next_version -> BigInt,
        staging_version -> Nullable<BigInt>,
        production_version -> Nullable<BigInt>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    model_tags (model_id, tag) {
        model_id -> BigInt,
        tag -> Text,
    }
}

diesel::table! {
    versions (id) {
        id -> BigInt,
        model_id -> BigInt,
        version -> BigInt,
        status -> Text,
        digest -> Nullable<Text>,
        size -> Nullable<BigInt>,
        format -> Text,
        expected_digest -> Nullable<Text>,
        signature -> Nullable<Text>,
        metrics -> Text,
        params -> Text,
        tags -> Text,
        source -> Nullable<Text>,
        description -> Nullable<Text>,
        created_at -> Timestamp,
        archived_at -> Nullable<Timestamp>,
        created_by -> Nullable<Text>,
        layout -> Text,
        file_count -> Nullable<BigInt>,
        served_path -> Nullable<Text>,
        served_digest -> Nullable<Text>,
        served_size -> Nullable<BigInt>,
        unservable_reason -> Nullable<Text>,
    }
}

diesel::table! {
    stage_history (id) {
        id -> BigInt,
        model_id -> BigInt,
        stage -> Text,
        version -> BigInt,
    }
}

diesel::table! {
    aliases (model_id, alias) {
        model_id -> BigInt,
        alias -> Text,
        version -> BigInt,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    counters (name) {
        name -> Text,
        value -> BigInt,
    }
}

diesel::table! {
    events (seq) {
        seq -> BigInt,
        kind -> Text,
        model -> Text,
        version -> Nullable<BigInt>,
        stage -> Nullable<Text>,
        from_version -> Nullable<BigInt>,
        to_version -> Nullable<BigInt>,
        reason -> Nullable<Text>,
        alias -> Nullable<Text>,
        digest -> Nullable<Text>,
        created_at -> Timestamp,
        actor -> Nullable<Text>,
        job -> Nullable<Text>,
        deployment -> Nullable<Text>,
        from_state -> Nullable<Text>,
        to_state -> Nullable<Text>,
        request -> Nullable<Text>,
        previous_name -> Nullable<Text>,
    }
}

diesel::table! {
    datasets (number) {
        number -> BigInt,
        id -> Text,
        name -> Text,
        digest -> Text,
        format -> Text,
        size -> BigInt,
        rows -> Nullable<BigInt>,
        row_index -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    batch_schedules (number) {
        number -> BigInt,
        name -> Text,
        cron -> Text,
        timezone -> Text,
        model -> Text,
        model_ref -> Text,
        input -> Text,
        output_format -> Text,
        id_column -> Nullable<Text>,
        max_bad_rows -> BigInt,
        auto_approve -> Bool,
        paused -> Bool,
        last_fired_at -> Timestamp,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        deployment -> Nullable<Text>,
    }
}

diesel::table! {
    batch_jobs (number) {
        number -> BigInt,
        id -> Text,
        status -> Text,
        model -> Text,
        model_ref -> Text,
        version -> Nullable<BigInt>,
        digest -> Nullable<Text>,
        input -> Text,
        dataset_id -> Nullable<Text>,
        output_format -> Text,
        id_column -> Nullable<Text>,
        max_bad_rows -> BigInt,
        plan -> Nullable<Text>,
        rows_total -> Nullable<BigInt>,
        rows_done -> BigInt,
        bad_rows -> BigInt,
        errors -> Text,
        failure -> Nullable<Text>,
        output_digest -> Nullable<Text>,
        output_size -> Nullable<BigInt>,
        output_rows -> Nullable<BigInt>,
        holder -> Nullable<Text>,
        lease_expires_at -> Nullable<Timestamp>,
        review_by -> Nullable<Text>,
        review_reason -> Nullable<Text>,
        reviewed_at -> Nullable<Timestamp>,
        schedule -> Nullable<Text>,
        fire_time -> Nullable<Timestamp>,
        created_by -> Nullable<Text>,
        created_at -> Timestamp,
        started_at -> Nullable<Timestamp>,
        finished_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    batch_chunks (job_id, chunk) {
        job_id -> Text,
        chunk -> BigInt,
        start_offset -> BigInt,
        end_offset -> BigInt,
        first_row -> BigInt,
        status -> Text,
        holder -> Nullable<Text>,
        lease_expires_at -> Nullable<Timestamp>,
        attempts -> BigInt,
        rows -> Nullable<BigInt>,
        written -> Nullable<BigInt>,
        bad_rows -> Nullable<BigInt>,
        errors -> Nullable<Text>,
        part -> Nullable<Text>,
        part_size -> Nullable<BigInt>,
        keys -> Nullable<Text>,
        input_key -> Nullable<Text>,
    }
}

diesel::table! {
    deployments (name) {
        name -> Text,
        model -> Text,
        model_ref -> Text,
        pattern -> Text,
        description -> Nullable<Text>,
        labels -> Text,
        canary_ref -> Nullable<Text>,
        canary_percent -> Nullable<BigInt>,
        state -> Text,
        state_reason -> Text,
        spec_changed_at -> Timestamp,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    deployment_instances (deployment, instance) {
        deployment -> Text,
        instance -> Text,
        version -> Nullable<BigInt>,
        digest -> Nullable<Text>,
        canary_version -> Nullable<BigInt>,
        canary_digest -> Nullable<Text>,
        status -> Text,
        detail -> Nullable<Text>,
        started_at -> Timestamp,
        last_seen -> Timestamp,
    }
}

diesel::table! {
    batch_job_deployments (job_id) {
        job_id -> Text,
        deployment -> Text,
    }
}

diesel::joinable!(model_tags -> models (model_id));
diesel::joinable!(versions -> models (model_id));
diesel::joinable!(aliases -> models (model_id));
diesel::allow_tables_to_appear_in_same_query!(models, model_tags, versions, aliases);
diesel::allow_tables_to_appear_in_same_query!(batch_jobs, batch_chunks, batch_job_deployments);
diesel::allow_tables_to_appear_in_same_query!(deployments, deployment_instances);

// Signed webhooks (migration 2026-12-07-000002_webhooks).
diesel::table! {
    webhooks (id) {
        id -> Text,
        url -> Text,
        events -> Text,
        model -> Nullable<Text>,
        description -> Nullable<Text>,
        secret -> Text,
        previous_secret -> Nullable<Text>,
        previous_secret_until -> Nullable<Timestamp>,
        status -> Text,
        disabled_reason -> Nullable<Text>,
        cursor_seq -> BigInt,
        attempts -> BigInt,
        failing_since -> Nullable<Timestamp>,
        next_attempt_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> BigInt,
        webhook_id -> Text,
        seq -> BigInt,
        message_id -> Text,
        attempt -> BigInt,
        attempted_at -> Timestamp,
        status_code -> Nullable<BigInt>,
        error -> Nullable<Text>,
        latency_ms -> BigInt,
        next_retry_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(webhook_deliveries -> webhooks (webhook_id));
diesel::allow_tables_to_appear_in_same_query!(webhooks, webhook_deliveries);

// API tokens (migration 2026-12-07-000003_tokens).
diesel::table! {
    tokens (name) {
        name -> Text,
        role -> Text,
        models -> Nullable<Text>,
        secret_hash -> Text,
        created_at -> Timestamp,
        created_by -> Text,
        last_used_at -> Nullable<Timestamp>,
    }
}

// Governed promotion (migration 2026-12-07-000004_policies).
diesel::table! {
    promotion_policies (model_id) {
        model_id -> BigInt,
        policy -> Text,
        updated_at -> Timestamp,
        updated_by -> Text,
    }
}

diesel::table! {
    promotion_requests (id) {
        id -> Text,
        model_id -> BigInt,
        model -> Text,
        target -> Text,
        rollback -> Bool,
        version -> BigInt,
        expects_holder -> Bool,
        expected_version -> Nullable<BigInt>,
        approvals_required -> BigInt,
        status -> Text,
        requested_by -> Text,
        reason -> Nullable<Text>,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        decided_at -> Nullable<Timestamp>,
        decided_by -> Nullable<Text>,
        rejection_reason -> Nullable<Text>,
        failure_reason -> Nullable<Text>,
    }
}

diesel::table! {
    promotion_approvals (request_id, approved_by) {
        request_id -> Text,
        approved_by -> Text,
        approved_at -> Timestamp,
        reason -> Nullable<Text>,
    }
}

diesel::table! {
    mlflow_artifacts (path) {
        path -> Text,
        digest -> Text,
        size -> BigInt,
        uploaded_by -> Text,
        uploaded_at -> Timestamp,
    }
}
