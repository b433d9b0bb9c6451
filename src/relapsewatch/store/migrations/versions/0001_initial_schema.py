"""Initial schema: canonical inputs, import batches, derived courses.

Revision ID: 0001
Revises:
Create Date: 2026-11-23

Indexes: every foreign key is the leading column of an index (the patient keys lead the
unique ``(patient_id, row_digest)`` constraints and the derived tables' primary keys).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "import_batches",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("engine_version", sa.Text(), nullable=False),
        sa.Column("patients_new", sa.Integer(), nullable=False),
        sa.Column("patients_updated", sa.Integer(), nullable=False),
        sa.Column("measurements_added", sa.Integer(), nullable=False),
        sa.Column("treatments_added", sa.Integer(), nullable=False),
        sa.Column("findings_added", sa.Integer(), nullable=False),
        sa.Column("rows_already_stored", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("committed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_batches")),
        sa.UniqueConstraint("content_hash", name=op.f("uq_import_batches_content_hash")),
    )
    op.create_table(
        "patients",
        sa.Column("patient_id", sa.Text(), nullable=False),
        sa.Column("disease", sa.String(length=32), nullable=False),
        sa.Column("diagnosis_date", sa.Date(), nullable=False),
        sa.Column("heavy_chain", sa.String(length=16), nullable=True),
        sa.Column("light_chain", sa.String(length=16), nullable=True),
        sa.Column("sex", sa.String(length=16), nullable=True),
        sa.Column("birth_year", sa.Integer(), nullable=True),
        sa.Column("records_as_of", sa.Date(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["import_batches.id"], name=op.f("fk_patients_batch_id_import_batches")
        ),
        sa.PrimaryKeyConstraint("patient_id", name=op.f("pk_patients")),
    )
    with op.batch_alter_table("patients", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_patients_batch_id"), ["batch_id"], unique=False)

    op.create_table(
        "course_detail_rows",
        sa.Column("patient_id", sa.Text(), nullable=False),
        sa.Column("frame", sa.String(length=40), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.patient_id"],
            name=op.f("fk_course_detail_rows_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("patient_id", "frame", "seq", name=op.f("pk_course_detail_rows")),
    )
    op.create_table(
        "course_lines",
        sa.Column("patient_id", sa.Text(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("line", sa.Integer(), nullable=True),
        sa.Column("start_date", sa.Date(), nullable=True),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("regimen", sa.Text(), nullable=True),
        sa.Column("best_response", sa.String(length=16), nullable=True),
        sa.Column("progression_date", sa.Date(), nullable=True),
        sa.Column("refractory_to", sa.Text(), nullable=True),
        sa.Column("end_reason", sa.Text(), nullable=True),
        sa.Column("details", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.patient_id"],
            name=op.f("fk_course_lines_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("patient_id", "seq", name=op.f("pk_course_lines")),
    )
    op.create_table(
        "course_relapses",
        sa.Column("patient_id", sa.Text(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("relapse_number", sa.Integer(), nullable=True),
        sa.Column("date", sa.Date(), nullable=True),
        sa.Column("confirmed_date", sa.Date(), nullable=True),
        sa.Column("line", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=True),
        sa.Column("criterion", sa.Text(), nullable=True),
        sa.Column("primary_refractory", sa.Boolean(), nullable=True),
        sa.Column("details", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.patient_id"],
            name=op.f("fk_course_relapses_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("patient_id", "seq", name=op.f("pk_course_relapses")),
    )
    op.create_table(
        "course_responses",
        sa.Column("patient_id", sa.Text(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("date", sa.Date(), nullable=True),
        sa.Column("line", sa.Integer(), nullable=True),
        sa.Column("response", sa.String(length=16), nullable=True),
        sa.Column("confirmed", sa.Boolean(), nullable=True),
        sa.Column("pathway", sa.String(length=32), nullable=True),
        sa.Column("flags", sa.Text(), nullable=True),
        sa.Column("details", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.patient_id"],
            name=op.f("fk_course_responses_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("patient_id", "seq", name=op.f("pk_course_responses")),
    )
    op.create_table(
        "course_status",
        sa.Column("patient_id", sa.Text(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=True),
        sa.Column("lines_received", sa.Integer(), nullable=True),
        sa.Column("current_line", sa.Integer(), nullable=True),
        sa.Column("relapses", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=32), nullable=True),
        sa.Column("latest_response", sa.String(length=16), nullable=True),
        sa.Column("triple_class_exposed", sa.Boolean(), nullable=True),
        sa.Column("triple_class_refractory", sa.Boolean(), nullable=True),
        sa.Column("penta_refractory", sa.Boolean(), nullable=True),
        sa.Column("details", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.patient_id"],
            name=op.f("fk_course_status_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("patient_id", "seq", name=op.f("pk_course_status")),
    )
    op.create_table(
        "findings",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("patient_id", sa.Text(), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("finding", sa.String(length=40), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("row_digest", sa.String(length=64), nullable=False),
        sa.Column("batch_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["import_batches.id"], name=op.f("fk_findings_batch_id_import_batches")
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.patient_id"],
            name=op.f("fk_findings_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_findings")),
        sa.UniqueConstraint(
            "patient_id", "row_digest", name=op.f("uq_findings_patient_id_row_digest")
        ),
    )
    with op.batch_alter_table("findings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_findings_batch_id"), ["batch_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_findings_patient_id_date"), ["patient_id", "date"], unique=False
        )

    op.create_table(
        "measurements",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("patient_id", sa.Text(), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("test", sa.String(length=40), nullable=False),
        sa.Column("value", sa.Double(), nullable=True),
        sa.Column("result", sa.String(length=40), nullable=True),
        sa.Column("limit", sa.Double(), nullable=True),
        sa.Column("unit", sa.String(length=40), nullable=True),
        sa.Column("method", sa.Text(), nullable=True),
        sa.Column("sensitivity", sa.Double(), nullable=True),
        sa.Column("reported_test", sa.Text(), nullable=True),
        sa.Column("reported_unit", sa.Text(), nullable=True),
        sa.Column("flags", sa.Text(), nullable=True),
        sa.Column("row_digest", sa.String(length=64), nullable=False),
        sa.Column("batch_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["import_batches.id"],
            name=op.f("fk_measurements_batch_id_import_batches"),
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.patient_id"],
            name=op.f("fk_measurements_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_measurements")),
        sa.UniqueConstraint(
            "patient_id", "row_digest", name=op.f("uq_measurements_patient_id_row_digest")
        ),
    )
    with op.batch_alter_table("measurements", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_measurements_batch_id"), ["batch_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_measurements_patient_id_date"), ["patient_id", "date"], unique=False
        )

    op.create_table(
        "patient_courses",
        sa.Column("patient_id", sa.Text(), nullable=False),
        sa.Column("engine_version", sa.Text(), nullable=False),
        sa.Column("input_digest", sa.String(length=64), nullable=False),
        sa.Column("course_digest", sa.String(length=64), nullable=False),
        sa.Column("frame_schemas", sa.Text(), nullable=False),
        sa.Column("progression_suspected", sa.Boolean(), nullable=False),
        sa.Column("last_result_date", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.patient_id"],
            name=op.f("fk_patient_courses_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("patient_id", name=op.f("pk_patient_courses")),
    )
    op.create_table(
        "treatments",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("patient_id", sa.Text(), nullable=False),
        sa.Column("therapy", sa.Text(), nullable=False),
        sa.Column("drug_classes", sa.JSON(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("intent", sa.String(length=32), nullable=True),
        sa.Column("reported_therapy", sa.Text(), nullable=True),
        sa.Column("row_digest", sa.String(length=64), nullable=False),
        sa.Column("batch_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["import_batches.id"], name=op.f("fk_treatments_batch_id_import_batches")
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.patient_id"],
            name=op.f("fk_treatments_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_treatments")),
        sa.UniqueConstraint(
            "patient_id", "row_digest", name=op.f("uq_treatments_patient_id_row_digest")
        ),
    )
    with op.batch_alter_table("treatments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_treatments_batch_id"), ["batch_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_treatments_patient_id_start_date"),
            ["patient_id", "start_date"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("treatments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_treatments_patient_id_start_date"))
        batch_op.drop_index(batch_op.f("ix_treatments_batch_id"))

    op.drop_table("treatments")
    op.drop_table("patient_courses")
    with op.batch_alter_table("measurements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_measurements_patient_id_date"))
        batch_op.drop_index(batch_op.f("ix_measurements_batch_id"))

    op.drop_table("measurements")
    with op.batch_alter_table("findings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_findings_patient_id_date"))
        batch_op.drop_index(batch_op.f("ix_findings_batch_id"))

    op.drop_table("findings")
    op.drop_table("course_status")
    op.drop_table("course_responses")
    op.drop_table("course_relapses")
    op.drop_table("course_lines")
    op.drop_table("course_detail_rows")
    with op.batch_alter_table("patients", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_patients_batch_id"))

    op.drop_table("patients")
    op.drop_table("import_batches")
