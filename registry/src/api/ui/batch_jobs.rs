//! Batch jobs (`/ui/batch-jobs`, `/ui/batch-jobs/{id}`): the list, and a job's progress
//! (live), bad rows, failure, output with its download link, and the review a succeeded
//! job waits for — approve or reject, with a reason (required to reject).

use actix_web::{web, HttpRequest, HttpResponse};
use capstan_client::http::BatchJobQuery;
use capstan_client::types::{BatchInput, BatchJob, BatchJobStatus, ReviewBatchJob, Role};
use maud::{html, Markup};

use super::layout::{short_digest, Live, Page, Section};
use super::models::{encode_query, size, when};
use super::session::UiContext;
use super::{Decision, PageQuery, ReviewForm, UiError};
use crate::service::Registry;

/// `GET /ui/batch-jobs`: newest first.
pub async fn list(
    ctx: UiContext,
    registry: web::Data<Registry>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, UiError> {
    let page = registry
        .list_batch_jobs(
            BatchJobQuery {
                status: None,
                model: None,
                schedule: None,
                limit: Some(50),
                page_token: query.page.clone(),
            },
            &ctx.caller.scope,
        )
        .await?;
    let body = html! {
        h1 { "Batch jobs" }
        @if page.jobs.is_empty() {
            p.notice.info { "No batch jobs. Submit one with " code { "capstan batch run" } "." }
        } @else {
            div.table-wrap { table {
                thead { tr {
                    th scope="col" { "Job" } th scope="col" { "Model" } th scope="col" { "Status" }
                    th scope="col" .num { "Rows" } th scope="col" .num { "Bad rows" } th scope="col" { "Created" }
                } }
                tbody {
                    @for job in &page.jobs {
                        tr {
                            th scope="row" { a href={ "/ui/batch-jobs/" (job.id) } { code { (job.id.get(..8).unwrap_or(&job.id)) } } }
                            td { code { (job.model.reference.to_string()) } }
                            td { (status(job.status)) }
                            td.num { (progress_text(job)) }
                            td.num { (job.bad_rows) }
                            td { (when(&job.created_at)) }
                        }
                    }
                }
            } }
        }
        @if let Some(token) = &page.next_page_token {
            p { a href={ "/ui/batch-jobs?" (encode_query(&[("page", token)])) } rel="next" { "Next page" } }
        }
    };
    Ok(Page {
        title: "Batch jobs".into(),
        section: Section::BatchJobs,
        live: Live::All,
        body,
    }
    .render(&ctx))
}

fn status(status: BatchJobStatus) -> Markup {
    let text = status.as_str();
    html! { span.badge.(text) data-status=(text) { (text.replace('_', " ")) } }
}

fn progress_text(job: &BatchJob) -> String {
    match job.progress.rows_total {
        Some(total) => format!("{} / {total}", job.progress.rows_done),
        None => job.progress.rows_done.to_string(),
    }
}

/// `GET /ui/batch-jobs/{id}`.
pub async fn show(
    ctx: UiContext,
    registry: web::Data<Registry>,
    id: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    let job = registry
        .get_batch_job(id.into_inner(), &ctx.caller.scope)
        .await?;
    Ok(job_page(&ctx, &job, None))
}

fn job_page(ctx: &UiContext, job: &BatchJob, refused: Option<&str>) -> HttpResponse {
    let id = job.id.as_str();
    let percent = job
        .progress
        .rows_total
        .filter(|total| *total > 0)
        .map(|total| (job.progress.rows_done.min(total) * 100 / total) as u64);
    let body = html! {
        p.crumbs { a href="/ui/batch-jobs" { "Batch jobs" } " / " code { (id) } }
        h1 { "Batch job " (status(job.status)) }
        @if let Some(refused) = refused {
            div.notice.refused role="alert" { p { strong { "Refused: " } (refused) } }
        }
        dl.facts {
            dt { "Id" } dd { code { (id) } }
            dt { "Model" } dd {
                code { (job.model.reference.to_string()) }
                @if let Some(v) = job.model.version {
                    " → " a href={ "/ui/models/" (job.model.name.as_str()) "/versions/" (v) } { "v" (v) }
                }
                @if let Some(d) = &job.model.digest { " " (short_digest(&d.to_string())) }
            }
            dt { "Input" } dd {
                @match &job.input {
                    BatchInput::Dataset { dataset } => { "dataset " code { (dataset) } }
                    BatchInput::Url { url } => { code { (url) } }
                }
            }
            dt { "Output format" } dd { (job.output_format.as_str()) }
            dt { "Progress" } dd {
                @if let Some(percent) = percent {
                    progress #progress max="100" value=(percent) aria-label="Rows scored" { (percent) "%" }
                    " "
                }
                span #rows { (progress_text(job)) " rows" }
                @if job.progress.rows_per_second > 0.0 {
                    span.muted { " (" (format!("{:.0}", job.progress.rows_per_second)) " rows/s)" }
                }
            }
            dt { "Bad rows" } dd { (job.bad_rows) " (at most " (job.max_bad_rows) ")" }
            dt { "Created" } dd { (when(&job.created_at)) }
            @if let Some(at) = &job.finished_at { dt { "Finished" } dd { (when(at)) } }
            @if let Some(schedule) = &job.schedule { dt { "Schedule" } dd { code { (schedule) } } }
            @if let Some(review) = &job.review {
                dt { "Reviewed" } dd {
                    (review.by) ", " (when(&review.at))
                    @if let Some(reason) = &review.reason { ": " (reason) }
                }
            }
        }
        @if let Some(failure) = &job.failure {
            div.notice.refused role="alert" { p { strong { (failure.code) ": " } (failure.detail) } }
        }
        @if let Some(output) = &job.output {
            h2 { "Output" }
            p {
                (output.rows) " rows, " (size(Some(output.size))) ", " (short_digest(&output.digest.to_string())) " "
                a href={ "/api/v1/batch-jobs/" (id) "/output" } download { "Download" }
            }
        }
        @if !job.errors.is_empty() {
            h2 { "Bad rows" }
            div.table-wrap { table {
                thead { tr { th scope="col" .num { "Row" } th scope="col" { "Id" } th scope="col" { "Field" } th scope="col" { "Why" } } }
                tbody {
                    @for error in &job.errors {
                        tr {
                            td.num { (error.row) }
                            td { (error.id.as_deref().unwrap_or("")) }
                            td { (error.field.as_deref().unwrap_or("")) }
                            td { (error.reason) }
                        }
                    }
                }
            } }
        }
        @if job.status == BatchJobStatus::Succeeded && ctx.may(Role::Promoter) {
            h2 #review { "Review" }
            form.panel method="post" action={ "/ui/batch-jobs/" (id) "/review" } {
                (ctx.csrf_field())
                p {
                    label for="review-reason" { "Reason (required to reject)" }
                    textarea #review-reason name="reason" maxlength="16384" {}
                }
                p { label.check for="review-confirm" { input #review-confirm type="checkbox" name="confirm" value="yes" required; "I have reviewed the output" } }
                p {
                    button type="submit" name="decision" value="approve" { "Approve" }
                    " "
                    button.danger type="submit" name="decision" value="reject" { "Reject" }
                }
            }
        }
    };
    let running = matches!(job.status, BatchJobStatus::Queued | BatchJobStatus::Running);
    Page {
        title: format!("Batch job {}", id.get(..8).unwrap_or(id)),
        section: Section::BatchJobs,
        live: if running {
            Live::Polled(2000)
        } else {
            Live::All
        },
        body,
    }
    .render(ctx)
}

/// `POST /ui/batch-jobs/{id}/review`: approve or reject a succeeded job.
pub async fn review(
    request: HttpRequest,
    ctx: UiContext,
    registry: web::Data<Registry>,
    id: web::Path<String>,
    form: web::Form<ReviewForm>,
) -> Result<HttpResponse, UiError> {
    ctx.check_form(&request, &form.csrf)?;
    let id = id.into_inner();
    let review = ReviewBatchJob {
        reason: form.reason(),
    };
    let outcome = match form.decision() {
        Ok(decision) => {
            let to = match decision {
                Decision::Approve => BatchJobStatus::Approved,
                Decision::Reject => BatchJobStatus::Rejected,
            };
            registry
                .review_batch_job(id.clone(), to, review, &ctx.caller)
                .await
        }
        Err(error) => Err(error),
    };
    match outcome {
        Ok(_) => Ok(HttpResponse::SeeOther()
            .insert_header((
                actix_web::http::header::LOCATION,
                format!("/ui/batch-jobs/{id}"),
            ))
            .finish()),
        Err(error) => {
            let Some((status, detail)) = super::refusal(&error) else {
                return Err(UiError(error));
            };
            let job = registry.get_batch_job(id, &ctx.caller.scope).await?;
            let mut response = job_page(&ctx, &job, Some(&detail));
            *response.status_mut() = status;
            Ok(response)
        }
    }
}
